using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>A model file whose metadata and tensors disagree must fail at load with one clear error naming the file.</summary>
public class ModelFileValidationTests
{
    /// <summary>Copies a GGUF, letting the test drop or replace metadata keys and tensors.</summary>
    private static string Rewrite(string source, string name, Func<string, GgufValue, GgufValue?>? metadata = null,
        Func<GgufTensorInfo, (long[] Dims, byte[] Data)?>? tensor = null)
    {
        string path = Path.Combine(TestPaths.NewTempDir("rewrite"), name + ".gguf");
        using var file = GgufFile.Open(source);
        var w = new GgufWriter();
        foreach (var (key, value) in file.Metadata)
            if ((metadata == null ? value : metadata(key, value)) is { } kept) w.Add(key, kept);
        foreach (var t in file.Tensors)
        {
            var original = (t.Dims, file.GetTensorSpan(t).ToArray());
            if ((tensor == null ? original : tensor(t)) is { } kept) w.AddTensor(t.Name, t.Type, kept.Dims, kept.Data);
        }
        w.Write(path);
        return path;
    }

    private static ModelFileException LoadFails(string path)
    {
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.StartsWith(path + ": ", e.Message);
        return e;
    }

    [Fact]
    public void TheUnmodifiedCopyLoads()
    {
        using var model = Qwen2Model.Load(Rewrite(SyntheticModels.TinyF32, "same"));
        Assert.Equal(64, model.Config.HiddenSize);
    }

    [Fact]
    public void MissingRequiredKey()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "no-heads", (k, v) => k == "qwen2.attention.head_count" ? null : v));
        Assert.Contains("qwen2.attention.head_count", e.Message);
    }

    [Fact]
    public void MissingTensor()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "no-ffn-up", tensor: t => t.Name == "blk.1.ffn_up.weight" ? null : (t.Dims, new byte[t.ByteSize])));
        Assert.Contains("blk.1.ffn_up.weight", e.Message);
    }

    [Fact]
    public void ShapeThatDisagreesWithTheConfig()
    {
        // Claim a larger feed-forward width than the tensors have.
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "wrong-ffn", (k, v) => k == "qwen2.feed_forward_length" ? GgufValue.From(128u) : v));
        Assert.Contains("expected", e.Message);
        Assert.Contains("ffn", e.Message);
    }

    [Fact]
    public void HeadsThatDoNotDivideTheWidth()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "heads", (k, v) => k == "qwen2.attention.head_count" ? GgufValue.From(3u) : v));
        Assert.Contains("head_count", e.Message);
    }

    [Fact]
    public void AbsurdHyperParameter()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "layers", (k, v) => k == "qwen2.block_count" ? GgufValue.From(uint.MaxValue) : v));
        Assert.Contains("block_count", e.Message);
    }

    [Fact]
    public void OtherArchitecture()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "llama", (k, v) => k == "general.architecture" ? GgufValue.From("llama") : v));
        Assert.Contains("llama", e.Message);
    }

    [Fact]
    public void MissingTokenizer()
    {
        var e = LoadFails(Rewrite(SyntheticModels.TinyF32, "no-tokens", (k, v) => k == "tokenizer.ggml.tokens" ? null : v));
        Assert.Contains("tokenizer.ggml.tokens", e.Message);
    }

    [Fact]
    public void MissingFileIsOneClearError()
    {
        var e = Assert.Throws<QwenSharpException>(() => Qwen2Model.Load("/nonexistent/model.gguf"));
        Assert.Contains("/nonexistent/model.gguf", e.Message);
    }
}

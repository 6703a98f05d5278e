using System.Text.Json;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests;

namespace QwenSharp.Server.Tests;

/// <summary>/api/tags fills Ollama's details (quantization, parameter size) from the file header, without loading.</summary>
public class TagsDetailsTests
{
    [Fact]
    public async Task UnloadedModelsListTheirQuantizationAndSizeFromTheHeader()
    {
        string dir = TestPaths.NewTempDir("serve-tags");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 64, FeedForwardSize = 128, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            WeightType = GgmlType.Q4_0, TiedEmbeddings = false, Name = "tags",
        };
        var vocab = SyntheticVocabulary.ByteLevel();
        SyntheticQwen2.Write(Path.Combine(dir, "plain.gguf"), spec, vocab);
        File.WriteAllBytes(Path.Combine(dir, "broken.gguf"), [0x47, 0x47, 0x55, 0x46, 3, 0]);

        await using var s = await TestServer.StartAsync(o => o with { ModelsDirectory = dir });
        var models = (await TestServer.JsonOf(await s.Http.GetAsync("/api/tags"))).GetProperty("models").EnumerateArray()
            .ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("details"));

        // Counted by hand from the shapes: embeddings and output (untied), and per layer q/k/v with biases, o, the
        // three FFN matrices and two norms; plus the final norm.
        long h = 64, kv = 32, ffn = 128, v = vocab.Tokens.Length;
        long perLayer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * ffn + 2 * h;
        long expected = 2 * v * h + 2 * perLayer + h;
        var plain = models["plain:latest"];
        Assert.Equal("Q4_0", plain.GetProperty("quantization_level").GetString());
        Assert.Equal(ModelFacts.ParameterSize(expected), plain.GetProperty("parameter_size").GetString());
        Assert.Equal("gguf", plain.GetProperty("format").GetString());
        string path = Path.Combine(dir, "plain.gguf");
        var info = new FileInfo(path);
        Assert.Equal(expected, ModelFileFacts.Of(new ModelEntry("plain", path, info.Length, info.LastWriteTimeUtc)).ParameterCount);

        var broken = models["broken:latest"];
        Assert.Equal("unknown", broken.GetProperty("quantization_level").GetString());
        Assert.Equal("", broken.GetProperty("parameter_size").GetString());
        Assert.Empty((await TestServer.JsonOf(await s.Http.GetAsync("/api/ps"))).GetProperty("models").EnumerateArray());
    }
}

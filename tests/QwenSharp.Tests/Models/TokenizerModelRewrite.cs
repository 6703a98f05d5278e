using QwenSharp.Formats;

namespace QwenSharp.Tests.Models;

/// <summary>Copies of the tiny synthetic model that differ only in tokenizer.ggml.model, for error-path tests.</summary>
internal static class TokenizerModelRewrite
{
    /// <summary>Writes TinyF32 with tokenizer.ggml.model = <paramref name="model"/> into a fresh temp dir; returns its path.</summary>
    public static string TinyF32With(string model, string name)
    {
        string path = Path.Combine(TestPaths.NewTempDir(name), name + ".gguf");
        using var source = GgufFile.Open(SyntheticModels.TinyF32);
        var w = new GgufWriter();
        foreach (var (key, value) in source.Metadata)
            w.Add(key, key == "tokenizer.ggml.model" ? GgufValue.From(model) : value);
        foreach (var t in source.Tensors) w.AddTensor(t.Name, t.Type, t.Dims, source.GetTensorSpan(t).ToArray());
        w.Write(path);
        return path;
    }
}

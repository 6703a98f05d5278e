using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Cli;

/// <summary>Turns the MODEL argument into a loaded model: a GGUF path, a HuggingFace folder (config.json, safetensors,
/// tokenizer files), or `demo`, a small synthetic Qwen2 model made once and cached (no download, no files beyond this
/// program).</summary>
internal static class ModelLocator
{
    public const string DemoName = "demo";

    public static Qwen2Model Load(string model, CliIO io, ModelLoadOptions? options = null)
    {
        if (model == DemoName)
        {
            string path = EnsureDemo(io);
            io.Error.WriteLine("qwen: the demo model has RANDOM weights: it shows the program working, its text is nonsense.");
            return Qwen2Model.Load(path, options);
        }
        if (Directory.Exists(model) && !HuggingFaceFolder.IsModelFolder(model))
            throw new QwenSharpException($"{model}: is a folder without config.json; give a .gguf file or a HuggingFace model folder");
        return Qwen2Model.Load(model, options);
    }

    /// <summary>$QWEN_HOME/demo/..., else ~/.cache/qwensharp/demo/...</summary>
    public static string DemoPath
    {
        get
        {
            string home = Environment.GetEnvironmentVariable("QWEN_HOME") is { Length: > 0 } h
                ? h : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "qwensharp");
            return Path.Combine(home, "demo", "demo-qwen2-q8_0-v1.gguf");
        }
    }

    public static SyntheticModelSpec DemoSpec => new()
    {
        HiddenSize = 256, FeedForwardSize = 704, LayerCount = 4, HeadCount = 4, KvHeadCount = 2,
        ContextLength = 8192, WeightType = GgmlType.Q8_0, InitStd = 0.3f, Seed = 2026, TiedEmbeddings = true,
        Name = "qwensharp-demo (random weights)",
    };

    private static string EnsureDemo(CliIO io)
    {
        string path = DemoPath;
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        io.Error.WriteLine($"qwen: making the demo model once at {path}");
        SyntheticQwen2.Write(path, DemoSpec, SyntheticVocabulary.ByteLevel());
        return path;
    }
}

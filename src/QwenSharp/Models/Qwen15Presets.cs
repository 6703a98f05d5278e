namespace QwenSharp.Models;

/// <summary>One member of the Qwen1.5 family: its HF name, decoder config and whether the output head is the
/// embedding (tied).</summary>
public sealed record Qwen15Preset(string Name, Qwen2Config Config, bool TiedEmbeddings)
{
    public long ParameterCount => Config.ParameterCount(TiedEmbeddings);
    public long ActiveParameterCount => Config.ActiveParameterCount(TiedEmbeddings);
}

/// <summary>The configs of every Qwen1.5 model (../shared/specs/QWEN15.md §1), base and chat (same shapes; MoE chat
/// has the longer context). Used for memory planning and the docs table; building them allocates no weights.</summary>
public static class Qwen15Presets
{
    private static Qwen2Config Dense(int hidden, int ffn, int layers, int heads, int kvHeads, int vocab,
                                     float ropeBase = 1e6f, int context = 32768, float eps = 1e-6f) => new()
    {
        Architecture = "qwen2", HiddenSize = hidden, FeedForwardSize = ffn, LayerCount = layers, HeadCount = heads,
        KvHeadCount = kvHeads, VocabSize = vocab, ContextLength = context, RopeFreqBase = ropeBase, RmsNormEps = eps,
    };

    private static Qwen2Config Moe(int context) => Dense(2048, 5632, 24, 16, 16, 151936, context: context) with
    {
        Architecture = "qwen2moe",
        Moe = new Qwen2MoeConfig { ExpertCount = 60, ExpertUsedCount = 4, ExpertFeedForwardSize = 1408, SharedFeedForwardSize = 5632, NormTopKProb = false },
    };

    /// <summary>The base models, smallest first, then the MoE and the code model.</summary>
    public static IReadOnlyList<Qwen15Preset> Base { get; } =
    [
        new("Qwen1.5-0.5B", Dense(1024, 2816, 24, 16, 16, 151936), TiedEmbeddings: true),
        new("Qwen1.5-1.8B", Dense(2048, 5504, 24, 16, 16, 151936), false),
        new("Qwen1.5-4B", Dense(2560, 6912, 40, 20, 20, 151936, ropeBase: 5e6f), false),
        new("Qwen1.5-7B", Dense(4096, 11008, 32, 32, 32, 151936), false),
        new("Qwen1.5-14B", Dense(5120, 13696, 40, 40, 40, 152064), false),
        new("Qwen1.5-32B", Dense(5120, 27392, 64, 40, 8, 152064), false),
        new("Qwen1.5-72B", Dense(8192, 24576, 80, 64, 64, 152064), false),
        new("Qwen1.5-110B", Dense(8192, 49152, 80, 64, 8, 152064), false),
        new("Qwen1.5-MoE-A2.7B", Moe(context: 8192), false),
        new("CodeQwen1.5-7B", Dense(4096, 13440, 32, 32, 4, 92416, context: 65536, eps: 1e-5f), false),
    ];

    /// <summary>The chat models: the base shapes (MoE-A2.7B-Chat with a 32768 context).</summary>
    public static IReadOnlyList<Qwen15Preset> Chat { get; } = Base
        .Select(p => p with
        {
            Name = p.Name + "-Chat",
            Config = p.Config.Moe != null ? p.Config with { ContextLength = 32768 } : p.Config,
        })
        .ToArray();

    public static IReadOnlyList<Qwen15Preset> All { get; } = [.. Base, .. Chat];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static Qwen15Preset? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}

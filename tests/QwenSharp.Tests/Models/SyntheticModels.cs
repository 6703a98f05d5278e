using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>Synthetic model files shared by the tests of one run, written once on first use.</summary>
internal static class SyntheticModels
{
    private static readonly string Dir = TestPaths.NewTempDir("models");
    private static readonly Dictionary<string, string> Written = [];
    private static readonly object Gate = new();

    /// <summary>Tiny shapes (GQA 4:2, head dim 16) and the byte-level vocabulary: fast enough for many tests.</summary>
    public static SyntheticModelSpec Tiny => new()
    {
        HiddenSize = 64, FeedForwardSize = 96, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
        ContextLength = 256, InitStd = 0.25f, Seed = 7,
    };

    public static string Get(string name, SyntheticModelSpec spec, Func<SyntheticVocabulary>? vocabulary = null)
    {
        lock (Gate)
        {
            if (Written.TryGetValue(name, out string? existing)) return existing;
            string path = Path.Combine(Dir, name + ".gguf");
            SyntheticQwen2.Write(path, spec, (vocabulary ?? SyntheticVocabulary.ByteLevel)());
            Written[name] = path;
            return path;
        }
    }

    public static string TinyF32 => Get("tiny-f32", Tiny);
    public static string TinyUntied => Get("tiny-untied-f32", Tiny with { TiedEmbeddings = false, Seed = 8 });
    /// <summary>qwen2moe: 6 experts, top-2, expert width 64, shared width 96.</summary>
    public static string TinyMoeQ8 => Get("tiny-moe-q8_0", Tiny with
    {
        WeightType = GgmlType.Q8_0, Seed = 9,
        Moe = new SyntheticMoeSpec { ExpertCount = 6, ExpertUsedCount = 2, ExpertFeedForwardSize = 64, SharedFeedForwardSize = 96 },
    });
    /// <summary>Q4_K, tied (vocabulary rows a whole number of eights): every matmul weight, the tied embedding
    /// included, is repacked at load into Q4_KInterleaved8's layout.</summary>
    public static string SmallTiedQ4_K => Get("small-tied-q4_k", Tiny with
    {
        WeightType = GgmlType.Q4_K, HiddenSize = 256, FeedForwardSize = 768, HeadCount = 4, KvHeadCount = 2,
        TiedEmbeddings = true, VocabRows = (SyntheticVocabulary.ByteLevel().Tokens.Length + 7) / 8 * 8 + 8, InitStd = 0.1f, Seed = 14,
    });
    /// <summary>Q4_0 with widths of whole 256-element rows and row counts of whole eights, untied: every matmul
    /// weight can be repacked at load (Interleaved8).</summary>
    public static string SmallQ4_0 => Get("small-q4_0", Tiny with
    {
        WeightType = GgmlType.Q4_0, HiddenSize = 256, FeedForwardSize = 768, HeadCount = 4, KvHeadCount = 2,
        TiedEmbeddings = false, InitStd = 0.1f, Seed = 11,
    });
    /// <summary>The same shapes in Q8_0 with tied embeddings (vocabulary rows a multiple of eight, so the tied
    /// embedding is repacked as the output matrix), and a qwen2moe of such widths in Q4_0 (4 experts, top-2, expert
    /// width 256, shared width 512): the other matrices the load repacks.</summary>
    public static string SmallTiedQ8_0 => Get("small-tied-q8_0", Tiny with
    {
        WeightType = GgmlType.Q8_0, HiddenSize = 256, FeedForwardSize = 768, HeadCount = 4, KvHeadCount = 2,
        TiedEmbeddings = true, VocabRows = (SyntheticVocabulary.ByteLevel().Tokens.Length + 7) / 8 * 8 + 8, InitStd = 0.1f, Seed = 12,
    });
    /// <summary>Q6_K, tied (vocabulary rows a whole number of eights): repacked at load into Q6_KInterleaved's layout
    /// where the 512-bit Q6_K decode kernel runs.</summary>
    public static string SmallTiedQ6_K => Get("small-tied-q6_k", Tiny with
    {
        WeightType = GgmlType.Q6_K, HiddenSize = 256, FeedForwardSize = 768, HeadCount = 4, KvHeadCount = 2,
        TiedEmbeddings = true, VocabRows = (SyntheticVocabulary.ByteLevel().Tokens.Length + 7) / 8 * 8 + 8, InitStd = 0.1f, Seed = 16,
    });
    public static string SmallMoeQ4_0 => Get("small-moe-q4_0", Tiny with
    {
        WeightType = GgmlType.Q4_0, HiddenSize = 256, HeadCount = 4, KvHeadCount = 2, InitStd = 0.1f, Seed = 13,
        Moe = new SyntheticMoeSpec { ExpertCount = 4, ExpertUsedCount = 2, ExpertFeedForwardSize = 256, SharedFeedForwardSize = 512 },
    });
    /// <summary>F16 wide enough (8.5 MiB) that the second layer's matrices sit in whole 2 MiB windows of the mapping,
    /// which the load copies into private pages (WeightRepacker.CopyPays).</summary>
    public static string SmallF16 => Get("small-f16", Tiny with
    {
        WeightType = GgmlType.F16, HiddenSize = 512, FeedForwardSize = 1536, HeadCount = 8, KvHeadCount = 4,
        TiedEmbeddings = false, InitStd = 0.05f, Seed = 15,
    });
    public static string TinyQ8 => Get("tiny-q8_0", Tiny with { WeightType = GgmlType.Q8_0, HiddenSize = 64, FeedForwardSize = 128 });
}

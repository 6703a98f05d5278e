using QwenSharp.Formats;

namespace QwenSharp.Models;

/// <summary>The hyper-parameters of a Qwen2 dense decoder, read from GGUF metadata (`qwen2.*` keys) and checked for
/// consistency before any weight is touched.</summary>
public sealed record Qwen2Config
{
    public required string Architecture { get; init; }
    public required int VocabSize { get; init; }        // rows of token_embd (may exceed the tokenizer's vocabulary: padding rows)
    public required int HiddenSize { get; init; }       // embedding_length
    public required int FeedForwardSize { get; init; }  // feed_forward_length
    public required int LayerCount { get; init; }       // block_count
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int ContextLength { get; init; }    // trained context (n_ctx_train)
    public required float RopeFreqBase { get; init; }
    public required float RmsNormEps { get; init; }
    /// <summary>The experts of a qwen2moe model (every layer's feed-forward block is MoE); null for dense qwen2.</summary>
    public Qwen2MoeConfig? Moe { get; init; }

    public int HeadDim => HiddenSize / HeadCount;
    public int KvDim => KvHeadCount * HeadDim;
    public int HeadsPerKvHead => HeadCount / KvHeadCount;

    // Generous upper bounds: the largest Qwen1.5 (110B) has hidden 8192, ffn 49152, 80 layers, 64 heads.
    internal const int MaxHidden = 1 << 16, MaxFfn = 1 << 20, MaxLayers = 1024, MaxHeads = 1024, MaxVocab = 1 << 22;

    public static Qwen2Config FromGguf(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        if (arch is not ("qwen2" or "qwen2moe"))
            throw new ModelFileException(file.FilePath, $"architecture '{arch}' is not a Qwen2 model (expected general.architecture = qwen2 or qwen2moe)");

        int Int(string key, int max) => CheckedInt(file, $"{arch}.{key}", file.GetInteger($"{arch}.{key}"), max);

        int hidden = Int("embedding_length", MaxHidden);
        int heads = Int("attention.head_count", MaxHeads);
        int kvHeads = file.TryGetInteger($"{arch}.attention.head_count_kv", out long kv)
            ? CheckedInt(file, $"{arch}.attention.head_count_kv", kv, MaxHeads) : heads;
        float freqBase = file.TryGetFloat($"{arch}.rope.freq_base", out float fb) ? fb : 10000f;
        float eps = file.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon", out float e) ? e : 1e-6f;

        var embd = file.GetTensor("token_embd.weight");
        if (embd.Dims.Length != 2)
            throw new ModelFileException(file.FilePath, $"tensor token_embd.weight has {embd.Dims.Length} dimensions, expected 2");
        int vocab = CheckedInt(file, "token_embd.weight rows", embd.Dims[1], MaxVocab);

        // qwen2moe: feed_forward_length is the unused dense width (optional); the expert keys carry the real shapes.
        int? denseFfn = arch == "qwen2" || file.TryGet($"{arch}.feed_forward_length", out _) ? Int("feed_forward_length", MaxFfn) : null;
        var moe = arch == "qwen2moe" ? Qwen2MoeConfig.FromGguf(file, arch, denseFfn) : null;
        var config = new Qwen2Config
        {
            Architecture = arch,
            VocabSize = vocab,
            HiddenSize = hidden,
            FeedForwardSize = denseFfn ?? moe!.SharedFeedForwardSize,
            LayerCount = Int("block_count", MaxLayers),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            ContextLength = Int("context_length", 1 << 24),
            RopeFreqBase = freqBase,
            RmsNormEps = eps,
            Moe = moe,
        };
        string? problem = config.Problem();
        if (problem != null) throw new ModelFileException(file.FilePath, problem);
        return config;
    }

    /// <summary>Why this configuration cannot be a Qwen2 decoder, or null when it is consistent.</summary>
    public string? Problem()
    {
        if (HiddenSize % HeadCount != 0) return $"embedding_length {HiddenSize} is not divisible by head_count {HeadCount}";
        if (HeadCount % KvHeadCount != 0) return $"head_count {HeadCount} is not a multiple of head_count_kv {KvHeadCount}";
        if (HeadDim % 2 != 0) return $"head dimension {HeadDim} is odd: rotary embedding needs pairs";
        if (!(RopeFreqBase > 1f) || float.IsInfinity(RopeFreqBase)) return $"rope.freq_base {RopeFreqBase} is not a usable base";
        if (!(RmsNormEps > 0f) || RmsNormEps > 1f) return $"layer_norm_rms_epsilon {RmsNormEps} is out of range";
        return Moe?.Problem();
    }

    /// <summary>Parameters counted from the shapes (embedding counted once when tied).</summary>
    public long ParameterCount(bool tiedOutput)
    {
        long h = HiddenSize, attn = h * h + 2L * h * KvDim + h * h + h + 2L * KvDim;
        long ffn = Moe?.ParametersPerLayer(HiddenSize) ?? 3L * h * FeedForwardSize;
        long perLayer = attn + ffn + 2 * h;
        return (long)VocabSize * h * (tiedOutput ? 1 : 2) + LayerCount * perLayer + h;
    }

    /// <summary>Parameters one token computes with: all of a dense model; for MoE, the chosen experts only.</summary>
    public long ActiveParameterCount(bool tiedOutput) => Moe is { } m
        ? ParameterCount(tiedOutput) - LayerCount * (m.ParametersPerLayer(HiddenSize) - m.ActiveParametersPerLayer(HiddenSize))
        : ParameterCount(tiedOutput);

    private static int CheckedInt(GgufFile file, string what, long value, int max)
    {
        if (value < 1 || value > max)
            throw new ModelFileException(file.FilePath, $"{what} = {value} is out of range (1..{max})");
        return (int)value;
    }
}

using QwenSharp.Formats;

namespace QwenSharp.Models;

/// <summary>The mixture-of-experts half of a qwen2moe config (Qwen1.5-MoE-A2.7B: 60 experts, 4 used per token,
/// expert width 1408, shared expert width 5632). Every layer is an MoE layer (decoder_sparse_step 1).</summary>
public sealed record Qwen2MoeConfig
{
    public required int ExpertCount { get; init; }            // expert_count (HF num_experts)
    public required int ExpertUsedCount { get; init; }        // expert_used_count (HF num_experts_per_tok)
    public required int ExpertFeedForwardSize { get; init; }  // expert_feed_forward_length (HF moe_intermediate_size)
    public required int SharedFeedForwardSize { get; init; }  // expert_shared_feed_forward_length (HF shared_expert_intermediate_size)
    /// <summary>Renormalise the chosen experts' router probabilities to sum to 1. False for Qwen1.5-MoE; GGUF files
    /// carry no such key (llama.cpp never renormalises qwen2moe), so it is false there; HF configs give it.</summary>
    public bool NormTopKProb { get; init; }

    private const int MaxExperts = 1 << 12, MaxFfn = 1 << 20;

    /// <summary>Reads the `{arch}.expert_*` keys. The widths fall back as llama.cpp's loader does: expert width to
    /// feed_forward_length / expert_used_count, shared width to feed_forward_length.</summary>
    internal static Qwen2MoeConfig FromGguf(GgufFile file, string arch, int? feedForward)
    {
        int Required(string key, int max)
        {
            long value = file.GetInteger($"{arch}.{key}");
            if (value < 1 || value > max) throw new ModelFileException(file.FilePath, $"{arch}.{key} = {value} is out of range (1..{max})");
            return (int)value;
        }
        int Optional(string key, int? fallback)
        {
            if (file.TryGetInteger($"{arch}.{key}", out long value) && value > 0)
            {
                if (value > MaxFfn) throw new ModelFileException(file.FilePath, $"{arch}.{key} = {value} is out of range (1..{MaxFfn})");
                return (int)value;
            }
            return fallback ?? throw new ModelFileException(file.FilePath, $"{arch}.{key} is missing and there is no feed_forward_length to derive it from");
        }
        int experts = Required("expert_count", MaxExperts);
        int used = Required("expert_used_count", MaxExperts);
        var config = new Qwen2MoeConfig
        {
            ExpertCount = experts,
            ExpertUsedCount = used,
            ExpertFeedForwardSize = Optional("expert_feed_forward_length", feedForward / used),
            SharedFeedForwardSize = Optional("expert_shared_feed_forward_length", feedForward),
        };
        if (config.Problem() is { } problem) throw new ModelFileException(file.FilePath, problem);
        return config;
    }

    /// <summary>Why this MoE configuration is unusable, or null.</summary>
    public string? Problem() =>
        ExpertUsedCount > ExpertCount ? $"expert_used_count {ExpertUsedCount} exceeds expert_count {ExpertCount}" : null;

    /// <summary>Parameters of one MoE feed-forward block: router, every expert, shared expert and its gate.</summary>
    public long ParametersPerLayer(int hidden) =>
        (long)ExpertCount * hidden + ExpertCount * 3L * hidden * ExpertFeedForwardSize + 3L * hidden * SharedFeedForwardSize + hidden;

    /// <summary>Parameters one token computes with in one MoE block: router, the chosen experts, shared expert and gate.</summary>
    public long ActiveParametersPerLayer(int hidden) =>
        (long)ExpertCount * hidden + ExpertUsedCount * 3L * hidden * ExpertFeedForwardSize + 3L * hidden * SharedFeedForwardSize + hidden;
}

namespace QwenSharp.Generation;

/// <summary>
/// How the next token is chosen from the logits. The defaults are llama.cpp's command-line defaults
/// (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat window 64) so results feel the same to its users.
/// RepeatPenalty defaults to 1.0 (off), which is what current llama.cpp uses; older llama.cpp and Ollama use 1.1,
/// and Qwen1.5's chat generation_config asks for 1.1 — set it explicitly when you want that.
/// A value that turns a stage off: TopK 0 (or >= vocabulary), TopP 1, MinP 0, RepeatPenalty 1, penalties 0.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Divides the logits before the final softmax; 0 or below means greedy argmax (lowest id wins ties).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the K most likely tokens; 0 (or at least the vocabulary size) disables.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Nucleus sampling: keep the smallest most-likely set whose probability (at temperature 1) reaches P; 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens whose probability is below MinP times the most likely token's; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>CTRL-style repetition penalty over the last <see cref="RepeatLastN"/> tokens: positive logits are
    /// divided by it, negative ones multiplied. 1 disables.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many of the most recent tokens the penalties look at; 0 disables penalties, -1 means the whole history.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>OpenAI-style: subtracted once from the logit of every token present in the penalty window.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI-style: subtracted from a token's logit once per occurrence in the penalty window.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Random seed; the same seed, logits and history give the same choices. Null picks a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Deterministic argmax decoding, no penalties (add some with <c>Greedy with { RepeatPenalty = 1.1f }</c>:
    /// penalties still apply before the argmax).</summary>
    public static SamplingOptions Greedy { get; } = new()
    {
        Temperature = 0f, TopK = 0, TopP = 1f, MinP = 0f, RepeatPenalty = 1f,
    };

    /// <summary>Throws <see cref="QwenSharpException"/> naming the first setting that makes no sense.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || float.IsInfinity(Temperature))
            throw new QwenSharpException($"temperature must be a finite number, got {Temperature}");
        if (TopK < 0)
            throw new QwenSharpException($"top-k must be 0 (off) or positive, got {TopK}");
        if (!(TopP > 0f && TopP <= 1f))
            throw new QwenSharpException($"top-p must be in (0, 1], got {TopP}");
        if (!(MinP >= 0f && MinP <= 1f))
            throw new QwenSharpException($"min-p must be in [0, 1], got {MinP}");
        if (!(RepeatPenalty > 0f) || float.IsInfinity(RepeatPenalty))
            throw new QwenSharpException($"repeat penalty must be a positive finite number, got {RepeatPenalty}");
        if (RepeatLastN < -1)
            throw new QwenSharpException($"repeat-last-n must be -1 (whole history), 0 (off) or positive, got {RepeatLastN}");
        if (!float.IsFinite(PresencePenalty))
            throw new QwenSharpException($"presence penalty must be finite, got {PresencePenalty}");
        if (!float.IsFinite(FrequencyPenalty))
            throw new QwenSharpException($"frequency penalty must be finite, got {FrequencyPenalty}");
    }
}

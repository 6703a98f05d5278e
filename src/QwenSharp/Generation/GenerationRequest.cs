namespace QwenSharp.Generation;

/// <summary>One generation job for a <see cref="BatchScheduler"/>: the whole prompt as tokens (its longest prefix
/// already in some slot's cache is reused) and what to generate.</summary>
public sealed record GenerationRequest(IReadOnlyList<int> Prompt, GenerationOptions Options)
{
    /// <summary>When the prompt does not fit the context: drop its oldest tokens instead of failing.</summary>
    public bool TruncatePrompt { get; init; }
    /// <summary>A smaller context for this request (Ollama's num_ctx); null or larger = the scheduler's.</summary>
    public int? ContextLimit { get; init; }
    /// <summary>-1: no log-probabilities; 0: the chosen token's; N: also the N most likely alternatives.</summary>
    public int TopLogprobs { get; init; } = -1;
}

/// <summary>A candidate token and its log-probability under the model (before sampling's cuts and penalties).</summary>
public readonly record struct TokenLogprob(int Token, string Text, float Logprob);

/// <summary>One generated token: its id, the text it releases (whole UTF-8 characters with stop strings held back,
/// so it may be empty), and, when asked for, log-probabilities.</summary>
public readonly record struct GeneratedPiece(int Token, string Text, float Logprob, TokenLogprob[]? TopLogprobs);

/// <summary>How a scheduled generation ended.</summary>
public sealed record ScheduledResult(
    int PromptTokens, int ReusedPromptTokens, int TruncatedPromptTokens, int GeneratedTokens, string Text,
    FinishReason Reason, int? StopToken, TimeSpan QueueDuration, TimeSpan PromptDuration, TimeSpan GenerationDuration);

namespace QwenSharp.Generation;

/// <summary>
/// Repetition, presence and frequency penalties over the recent history, the way llama.cpp applies them:
/// each distinct token in the window is penalised once, CTRL-style (logit &gt; 0 divided by the penalty,
/// otherwise multiplied), then logit -= frequency * count + presence.
/// </summary>
internal static class TokenPenalties
{
    /// <param name="counts">Vocabulary-sized scratch, all zero on entry; left all zero on return.</param>
    public static void Apply(Span<float> logits, ReadOnlySpan<int> history, SamplingOptions options, int[] counts)
    {
        bool active = options.RepeatPenalty != 1f || options.PresencePenalty != 0f || options.FrequencyPenalty != 0f;
        if (!active || options.RepeatLastN == 0 || history.IsEmpty) return;

        ReadOnlySpan<int> window = options.RepeatLastN < 0 || options.RepeatLastN >= history.Length
            ? history
            : history[^options.RepeatLastN..];

        foreach (int token in window)
        {
            if ((uint)token >= (uint)logits.Length)
                throw new QwenSharpException($"history token id {token} is outside the vocabulary of {logits.Length}");
            counts[token]++;
        }

        float repeat = options.RepeatPenalty, presence = options.PresencePenalty, frequency = options.FrequencyPenalty;
        // Second pass visits each distinct token at its first occurrence (count still set) and clears the count,
        // so the scratch array needs no full reset.
        foreach (int token in window)
        {
            int count = counts[token];
            if (count == 0) continue;
            counts[token] = 0;
            float logit = logits[token];
            logit = logit <= 0f ? logit * repeat : logit / repeat;
            logits[token] = logit - (frequency * count + presence);
        }
    }
}

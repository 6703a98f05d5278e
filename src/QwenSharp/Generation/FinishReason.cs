namespace QwenSharp.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>An end-of-sequence token was sampled or a stop string appeared.</summary>
    Stop,

    /// <summary>The token limit (or the context size) was reached.</summary>
    Length,

    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

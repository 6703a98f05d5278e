namespace QwenSharp.Generation;

/// <summary>Every slot is busy and the wait queue is full: try again later (a server answers 503).</summary>
public sealed class SchedulerQueueFullException(int maxQueue)
    : QwenSharpException($"the server is busy: {maxQueue} requests are already waiting; try again later")
{
    public int MaxQueue { get; } = maxQueue;
}

/// <summary>The prompt does not fit the context and truncation was not asked for (a server answers 400).</summary>
public sealed class PromptTooLongException(int promptTokens, int contextLength)
    : QwenSharpException($"the prompt has {promptTokens} tokens but the context holds {contextLength}; shorten it, raise num_ctx, or ask for truncation")
{
    public int PromptTokens { get; } = promptTokens;
    public int ContextLength { get; } = contextLength;
}

/// <summary>The scheduler was disposed (its model unloaded) before the request finished.</summary>
public sealed class SchedulerClosedException()
    : QwenSharpException("the model was unloaded before the request finished");

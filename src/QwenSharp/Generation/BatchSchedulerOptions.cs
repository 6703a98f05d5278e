using QwenSharp.Models;

namespace QwenSharp.Generation;

/// <summary>How a <see cref="BatchScheduler"/> sizes its context and queue.</summary>
public sealed record BatchSchedulerOptions
{
    /// <summary>Sequences that decode together (the server's --parallel); each gets its own KV cache slot.</summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Requests that may wait for a slot; one more is refused with <see cref="SchedulerQueueFullException"/>.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Positions per sequence; 0 = min(the model's trained context, 4096).</summary>
    public int ContextLength { get; init; }
    /// <summary>Most tokens in one forward pass: one per generating sequence plus prompt chunks of joining ones.</summary>
    public int MaxBatch { get; init; } = 512;
    /// <summary>Compute threads; 0 = physical cores.</summary>
    public int Threads { get; init; }
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;

    internal void Validate()
    {
        if (Parallel < 1) throw new QwenSharpException($"parallel must be at least 1, got {Parallel}");
        if (MaxQueue < 0) throw new QwenSharpException($"max queue must be 0 or more, got {MaxQueue}");
        if (MaxBatch < Parallel) throw new QwenSharpException($"max batch ({MaxBatch}) must be at least parallel ({Parallel})");
    }
}

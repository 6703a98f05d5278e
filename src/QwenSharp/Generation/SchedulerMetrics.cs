namespace QwenSharp.Generation;

/// <summary>Counters and gauges of one <see cref="BatchScheduler"/>, safe to read from any thread.</summary>
public sealed class SchedulerMetrics
{
    private long _requests, _failed, _cancelled, _promptTokens, _reusedPromptTokens, _generatedTokens, _steps;
    private int _active, _queued;
    private readonly object _rateGate = new();
    private readonly long[] _bucketTokens = new long[RateSeconds];
    private readonly long[] _bucketSecond = new long[RateSeconds];
    private const int RateSeconds = 10;

    public long RequestsTotal => Interlocked.Read(ref _requests);
    public long RequestsFailed => Interlocked.Read(ref _failed);
    public long RequestsCancelled => Interlocked.Read(ref _cancelled);
    public long PromptTokensTotal => Interlocked.Read(ref _promptTokens);
    public long ReusedPromptTokensTotal => Interlocked.Read(ref _reusedPromptTokens);
    public long GeneratedTokensTotal => Interlocked.Read(ref _generatedTokens);
    public long StepsTotal => Interlocked.Read(ref _steps);
    public int ActiveSequences => Volatile.Read(ref _active);
    public int QueueDepth => Volatile.Read(ref _queued);

    /// <summary>Generated tokens per second over the last ten seconds.</summary>
    public double TokensPerSecond
    {
        get
        {
            long now = Environment.TickCount64 / 1000;
            long sum = 0;
            lock (_rateGate)
                for (int i = 0; i < RateSeconds; i++)
                    if (now - _bucketSecond[i] < RateSeconds) sum += _bucketTokens[i];
            return sum / (double)RateSeconds;
        }
    }

    internal void Submitted() { Interlocked.Increment(ref _requests); Interlocked.Increment(ref _queued); }
    internal void LeftQueue() => Interlocked.Decrement(ref _queued);
    internal void Started(int promptTokens, int reused)
    {
        Interlocked.Increment(ref _active);
        Interlocked.Add(ref _promptTokens, promptTokens);
        Interlocked.Add(ref _reusedPromptTokens, reused);
    }
    internal void Ended(FinishReason? reason)
    {
        Interlocked.Decrement(ref _active);
        if (reason is null) Interlocked.Increment(ref _failed);
        else if (reason == FinishReason.Cancelled) Interlocked.Increment(ref _cancelled);
    }
    internal void CancelledInQueue() => Interlocked.Increment(ref _cancelled);
    internal void FailedInQueue() => Interlocked.Increment(ref _failed);

    internal void Step(int tokens)
    {
        Interlocked.Increment(ref _steps);
        if (tokens == 0) return;
        Interlocked.Add(ref _generatedTokens, tokens);
        long second = Environment.TickCount64 / 1000;
        int i = (int)(second % RateSeconds);
        lock (_rateGate)
        {
            if (_bucketSecond[i] != second) { _bucketSecond[i] = second; _bucketTokens[i] = 0; }
            _bucketTokens[i] += tokens;
        }
    }
}

using System.Diagnostics;

namespace QwenSharp.Tensors;

/// <summary>Timestamps of compute-pool runs, for seeing where a decode step's time goes between and around the
/// kernels: when a run opens, when each thread starts and ends its part, when the run closes (and so how long the
/// calling thread worked alone between two runs). Off unless a benchmark sets <see cref="Active"/> (`bench micro
/// decode-trace`); the pool then pays one static read per run. Fixed capacity, allocated up front: tracing a decode
/// step allocates nothing.</summary>
internal sealed class PoolTrace
{
    /// <summary>The trace that runs started from this thread write to, or null (the default). Per calling thread, so
    /// one benchmark's trace never sees another thread's pools.</summary>
    [ThreadStatic] internal static PoolTrace? Active;

    private readonly long[] _stamps;   // per run: open, close, then start and end per thread
    private readonly Type?[] _jobs;
    private readonly int _stride;
    private int _runs;

    public PoolTrace(int threads, int capacity)
    {
        if (threads < 1 || capacity < 1) throw new QwenSharpException($"pool trace: {threads} threads, capacity {capacity}");
        Threads = threads;
        Capacity = capacity;
        _stride = 2 + 2 * threads;
        _stamps = new long[(long)capacity * _stride];
        _jobs = new Type?[capacity];
    }

    public int Threads { get; }
    public int Capacity { get; }

    /// <summary>Runs recorded (closed) so far.</summary>
    public int Runs => Volatile.Read(ref _runs);

    /// <summary>Called by the pool as a run opens: the run's index, or -1 when the trace is full or the pool has
    /// more threads than it records.</summary>
    internal int Open(ComputeJob job, int poolThreads)
    {
        int run = _runs;
        if (run >= Capacity || poolThreads > Threads) return -1;
        Array.Clear(_stamps, run * _stride, _stride);
        _jobs[run] = job.GetType();
        _stamps[run * _stride] = Stopwatch.GetTimestamp();
        return run;
    }

    internal void Start(int run, int thread) => _stamps[run * _stride + 2 + 2 * thread] = Stopwatch.GetTimestamp();
    internal void End(int run, int thread) => _stamps[run * _stride + 3 + 2 * thread] = Stopwatch.GetTimestamp();

    internal void Close(int run)
    {
        _stamps[run * _stride + 1] = Stopwatch.GetTimestamp();
        Volatile.Write(ref _runs, run + 1);
    }

    /// <summary>Run <paramref name="run"/>'s job type and stamps (Stopwatch ticks; a thread that did not join the
    /// run has start and end 0).</summary>
    public (Type Job, long Open, long Close) Run(int run) => (_jobs[run]!, _stamps[run * _stride], _stamps[run * _stride + 1]);

    public (long Start, long End) Thread(int run, int thread) => (_stamps[run * _stride + 2 + 2 * thread], _stamps[run * _stride + 3 + 2 * thread]);
}

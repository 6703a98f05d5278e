namespace QwenSharp.Tensors;

/// <summary>One unit of parallel work: every thread of the pool calls <see cref="Execute"/> once with its index.
/// Jobs are objects allocated once by their owner and reused for every run, so running one allocates nothing.</summary>
public abstract class ComputeJob
{
    private int _nextChunk;

    public abstract void Execute(int threadIndex, int threadCount);

    /// <summary>True (the default): every pool thread runs <see cref="Execute"/> once per run, and the run ends when all
    /// have. False: the job hands out its work in chunks (<see cref="Claim"/>), so a run may end without a thread
    /// that had not started yet (descheduled on a busy machine): the threads that are there do its share.</summary>
    protected internal virtual bool EveryThreadMustRun => true;

    internal void BeginRun() => Volatile.Write(ref _nextChunk, 0);

    /// <summary>The next unclaimed chunk [start, end) of <paramref name="total"/> items, <paramref name="chunk"/> at a
    /// time; false when none is left. Each chunk goes to exactly one caller in a run.</summary>
    protected bool Claim(int total, int chunk, out int start, out int end)
    {
        long first = (long)(Interlocked.Increment(ref _nextChunk) - 1) * chunk;
        start = (int)Math.Min(first, total);
        end = (int)Math.Min(first + chunk, total);
        return start < end;
    }

    /// <summary>A chunk size that gives each thread about <paramref name="perThread"/> chunks, rounded up to a multiple
    /// of <paramref name="granule"/> so SIMD tiles are not split.</summary>
    protected static int ChunkSize(int total, int threadCount, int perThread, int granule = 1)
    {
        int chunk = (int)Math.Max(1, (total + (long)threadCount * perThread - 1) / ((long)threadCount * perThread));
        return (chunk + granule - 1) / granule * granule;
    }

    /// <summary>The [start, end) slice of <paramref name="total"/> items that thread <paramref name="threadIndex"/> owns,
    /// with slice edges rounded to multiples of <paramref name="granule"/> so SIMD tiles are not split.</summary>
    public static (int Start, int End) Slice(int total, int threadIndex, int threadCount, int granule = 1)
    {
        int units = (total + granule - 1) / granule;
        int start = (int)((long)units * threadIndex / threadCount) * granule;
        int end = (int)((long)units * (threadIndex + 1) / threadCount) * granule;
        return (Math.Min(start, total), Math.Min(end, total));
    }
}

/// <summary>A persistent pool of compute threads. The calling thread is thread 0 and works too; the others spin
/// briefly between jobs (the next matmul follows within microseconds during a forward pass) and then sleep.
/// Not reentrant: one job at a time, from one caller at a time.
///
/// A run is a gate that workers join: one 64-bit word holds the run's epoch, a closed flag and the number of workers
/// inside the job. For chunked jobs the caller closes the gate as soon as its own Execute returns (no chunk left) and
/// waits only for the workers that joined; a worker that was descheduled and arrives late finds the gate closed and
/// skips the run, so on a loaded machine a barrier does not wait a whole scheduler time slice for it.</summary>
public sealed class ComputePool : IDisposable
{
    private const int SpinIterations = 20_000;
    private const long ClosedBit = 1L << 31;
    private const long ActiveMask = ClosedBit - 1;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private ComputeJob? _job;
    private long _state;   // epoch << 32 | closed << 31 | workers inside the job
    private int _joined;   // workers that joined this run
    private bool _disposed;
    private Exception? _failure;
    private PoolTrace? _trace;   // the run's trace (PoolTrace.Active when it opened) and its index there
    private int _tracedRun;

    public int ThreadCount { get; }

    public ComputePool(int threadCount)
    {
        if (threadCount < 1) throw new QwenSharpException($"thread count must be at least 1, got {threadCount}");
        ThreadCount = threadCount;
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int index = i + 1;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"qwen-compute-{index}" };
            _workers[i].Start();
        }
    }

    /// <summary>Default thread count: the physical cores, estimated as logical processors halved when SMT is likely.
    /// .NET does not expose the physical core count, so this reads Linux's topology when it can.</summary>
    public static int DefaultThreadCount => PhysicalCores.Count;

    public void Run(ComputeJob job)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        job.BeginRun();
        var trace = PoolTrace.Active;
        int traced = trace?.Open(job, ThreadCount) ?? -1;
        if (traced < 0) trace = null;
        if (_workers.Length == 0)
        {
            trace?.Start(traced, 0);
            job.Execute(0, 1);
            trace?.End(traced, 0);
            trace?.Close(traced);
            return;
        }
        bool everyThread = job.EveryThreadMustRun;
        _job = job;
        _trace = trace;
        _tracedRun = traced;
        _failure = null;
        Volatile.Write(ref _joined, 0);
        lock (_sleepLock)
        {
            long epoch = (Volatile.Read(ref _state) >> 32) + 1;
            Volatile.Write(ref _state, epoch << 32);   // open, nobody inside
            Monitor.PulseAll(_sleepLock);
        }
        try
        {
            trace?.Start(traced, 0);
            job.Execute(0, ThreadCount);
            trace?.End(traced, 0);
        }
        finally
        {
            var spin = new SpinWait();
            if (everyThread)
                while (Volatile.Read(ref _joined) != _workers.Length) spin.SpinOnce(-1);
            Interlocked.Or(ref _state, ClosedBit);
            while ((Volatile.Read(ref _state) & ActiveMask) != 0) spin.SpinOnce(-1);
            trace?.Close(traced);
            _job = null;
            _trace = null;
        }
        if (_failure is { } failure) throw new AggregateException("a compute thread failed", failure);
    }

    private void WorkerLoop(int index)
    {
        long seen = 0;
        while (true)
        {
            int spins = 0;
            while ((Volatile.Read(ref _state) >> 32) == seen && !_disposed)
            {
                if (++spins < SpinIterations) { Thread.SpinWait(20); continue; }
                lock (_sleepLock)
                {
                    while ((Volatile.Read(ref _state) >> 32) == seen && !_disposed) Monitor.Wait(_sleepLock);
                }
            }
            if (_disposed) return;
            long state = Volatile.Read(ref _state);
            seen = state >> 32;
            if ((state & ClosedBit) != 0) continue;                                  // arrived after the run ended
            if (Interlocked.CompareExchange(ref _state, state + 1, state) != state)  // closed, or another worker joined first
            {
                seen--;                                                             // look at this epoch again
                continue;
            }
            Interlocked.Increment(ref _joined);
            try
            {
                var trace = _trace;
                int traced = _tracedRun;
                trace?.Start(traced, index);
                _job!.Execute(index, ThreadCount);
                trace?.End(traced, index);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Decrement(ref _state);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        lock (_sleepLock)
        {
            _disposed = true;
            Monitor.PulseAll(_sleepLock);
        }
        foreach (var w in _workers) w.Join();
    }
}

/// <summary>Physical core count from /sys (Linux); falls back to the logical processor count elsewhere.</summary>
internal static class PhysicalCores
{
    public static int Count { get; } = Detect();

    private static int Detect()
    {
        try
        {
            var cores = new HashSet<string>();
            foreach (var dir in Directory.EnumerateDirectories("/sys/devices/system/cpu", "cpu*"))
            {
                string core = Path.Combine(dir, "topology", "core_id");
                string package = Path.Combine(dir, "topology", "physical_package_id");
                if (File.Exists(core))
                    cores.Add((File.Exists(package) ? File.ReadAllText(package).Trim() : "0") + ":" + File.ReadAllText(core).Trim());
            }
            if (cores.Count > 0) return Math.Min(cores.Count, Environment.ProcessorCount);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.ProcessorCount;
    }
}

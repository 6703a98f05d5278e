namespace QwenSharp.Tensors;

/// <summary>One unit of parallel work: every thread of the pool calls <see cref="Execute"/> once with its index.
/// Jobs are objects allocated once by their owner and reused for every run, so running one allocates nothing.</summary>
public abstract class ComputeJob
{
    public abstract void Execute(int threadIndex, int threadCount);

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
/// Not reentrant: one job at a time, from one caller at a time.</summary>
public sealed class ComputePool : IDisposable
{
    private const int SpinIterations = 20_000;

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();
    private ComputeJob? _job;
    private int _epoch;
    private int _pending;
    private bool _disposed;
    private Exception? _failure;

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
        if (_workers.Length == 0)
        {
            job.Execute(0, 1);
            return;
        }
        _job = job;
        _failure = null;
        Volatile.Write(ref _pending, _workers.Length);
        lock (_sleepLock)
        {
            Interlocked.Increment(ref _epoch);
            Monitor.PulseAll(_sleepLock);
        }
        try
        {
            job.Execute(0, ThreadCount);
        }
        finally
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(-1);
            _job = null;
        }
        if (_failure is { } failure) throw new AggregateException("a compute thread failed", failure);
    }

    private void WorkerLoop(int index)
    {
        int seen = 0;
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _epoch) == seen && !_disposed)
            {
                if (++spins < SpinIterations) { Thread.SpinWait(20); continue; }
                lock (_sleepLock)
                {
                    while (Volatile.Read(ref _epoch) == seen && !_disposed) Monitor.Wait(_sleepLock);
                }
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _epoch);
            try
            {
                _job!.Execute(index, ThreadCount);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Decrement(ref _pending);
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

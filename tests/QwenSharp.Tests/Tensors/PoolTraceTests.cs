using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>A pool trace records, for every run started from the tracing thread, the job, when the run opened and
/// closed and when each thread ran its part, in that order; it stops at its capacity, and nothing is recorded once
/// it is no longer active.</summary>
public class PoolTraceTests
{
    private sealed class EveryThreadJob : ComputeJob
    {
        public override void Execute(int threadIndex, int threadCount) => Thread.SpinWait(2000);
    }

    private sealed class SingleThreadJob : ComputeJob
    {
        protected internal override bool EveryThreadMustRun => false;
        public override void Execute(int threadIndex, int threadCount) { }
    }

    /// <summary>Runs <paramref name="work"/> with <paramref name="trace"/> active on this thread.</summary>
    private static PoolTrace Traced(PoolTrace trace, Action work)
    {
        PoolTrace.Active = trace;
        try
        {
            work();
        }
        finally
        {
            PoolTrace.Active = null;
        }
        return trace;
    }

    [Fact]
    public void EachRunIsStampedInOrderUpToTheCapacity()
    {
        using var pool = new ComputePool(3);
        var trace = Traced(new PoolTrace(threads: 4, capacity: 5), () =>
        {
            pool.Run(new SingleThreadJob());
            for (int i = 0; i < 6; i++) pool.Run(new EveryThreadJob());
        });
        pool.Run(new EveryThreadJob());   // after: not recorded
        Assert.Equal(5, trace.Runs);
        Assert.Equal(typeof(SingleThreadJob), trace.Run(0).Job);
        for (int run = 0; run < trace.Runs; run++)
        {
            var (job, open, close) = trace.Run(run);
            Assert.True(open > 0 && close >= open, $"run {run}: open {open}, close {close}");
            if (run > 0) Assert.True(open >= trace.Run(run - 1).Close, $"run {run} opened before run {run - 1} closed");
            var (mainStart, mainEnd) = trace.Thread(run, 0);
            Assert.True(open <= mainStart && mainStart <= mainEnd && mainEnd <= close, $"run {run}: the calling thread's part is outside the run");
            for (int t = 1; t < 4; t++)
            {
                var (start, end) = trace.Thread(run, t);
                if (t == 3 || job == typeof(SingleThreadJob) && start == 0)
                {
                    Assert.True(start == 0 && end == 0, $"run {run}: thread {t} has stamps");   // the pool has 3 threads; a chunked run may end without a worker
                    continue;
                }
                Assert.True(open <= start && start <= end && end <= close, $"run {run}: thread {t} ran {start}..{end} outside {open}..{close}");
            }
        }
    }

    [Fact]
    public void APoolWithMoreThreadsThanTheTraceRecordsIsNotTraced()
    {
        using var pool = new ComputePool(3);
        var trace = Traced(new PoolTrace(threads: 2, capacity: 4), () => pool.Run(new EveryThreadJob()));
        Assert.Equal(0, trace.Runs);
    }
}

using System.Collections.Concurrent;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>The compute pool hands every item of a chunked job to exactly one thread, on every run of a reused job; jobs that need every thread get each index once; a failing thread surfaces as an
/// exception on the caller and leaves the pool usable.</summary>
public class ComputePoolTests
{
    private sealed class ChunkJob(int granule) : ComputeJob
    {
        public int Total;
        public int[] Visits = [];
        public readonly ConcurrentBag<(int Start, int End)> Chunks = new();
        protected internal override bool EveryThreadMustRun => false;

        public override void Execute(int threadIndex, int threadCount)
        {
            int chunk = ChunkSize(Total, threadCount, 8, granule);
            while (Claim(Total, chunk, out int start, out int end))
            {
                Chunks.Add((start, end));
                for (int i = start; i < end; i++) Interlocked.Increment(ref Visits[i]);
            }
        }
    }

    private sealed class EveryThreadJob : ComputeJob
    {
        public int[] Calls = [];
        public override void Execute(int threadIndex, int threadCount) => Interlocked.Increment(ref Calls[threadIndex]);
    }

    private sealed class FailingJob : ComputeJob
    {
        public override void Execute(int threadIndex, int threadCount)
        {
            if (threadIndex == 1) throw new InvalidOperationException("boom");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryItemIsClaimedExactlyOnceOnEveryRun(int threads)
    {
        const int Granule = 16;
        using var pool = new ComputePool(threads);
        var job = new ChunkJob(Granule);
        foreach (int total in new[] { 0, 1, 15, 16, 17, 33, 1000, 3072, 151936 })
            for (int run = 0; run < 3; run++)
            {
                job.Total = total;
                job.Visits = new int[total];
                job.Chunks.Clear();
                pool.Run(job);
                Assert.All(job.Visits, v => Assert.Equal(1, v));
                var chunks = job.Chunks.OrderBy(c => c.Start).ToArray();
                Assert.All(chunks, c => Assert.Equal(0, c.Start % Granule));
            }
    }

    [Fact]
    public void JobsThatNeedEveryThreadGetEachIndexOnce()
    {
        using var pool = new ComputePool(3);
        var job = new EveryThreadJob();
        for (int run = 0; run < 20; run++)
        {
            job.Calls = new int[3];
            pool.Run(job);
            Assert.Equal([1, 1, 1], job.Calls);
        }
    }

    [Fact]
    public void AFailingThreadThrowsOnTheCallerAndThePoolKeepsWorking()
    {
        using var pool = new ComputePool(2);
        var error = Assert.Throws<AggregateException>(() => pool.Run(new FailingJob()));
        Assert.IsType<InvalidOperationException>(error.InnerException);
        var job = new EveryThreadJob { Calls = new int[2] };
        pool.Run(job);
        Assert.Equal([1, 1], job.Calls);
    }
}

using System.Collections.Concurrent;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>The compute pool hands every item of a chunked job to exactly one thread, whichever claim it uses, on
/// every run of a reused job; jobs that need every thread get each index once; a failing thread surfaces as an
/// exception on the caller and leaves the pool usable.</summary>
public class ComputePoolTests
{
    private sealed class ChunkJob(bool guided, int minChunk, int granule) : ComputeJob
    {
        public int Total;
        public int[] Visits = [];
        public readonly ConcurrentBag<(int Start, int End)> Chunks = new();
        protected internal override bool EveryThreadMustRun => false;

        public override void Execute(int threadIndex, int threadCount)
        {
            int chunk = ChunkSize(Total, threadCount, 8, granule);
            int start, end;
            while (guided ? ClaimGuided(Total, threadCount, minChunk, granule, out start, out end) : Claim(Total, chunk, out start, out end))
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
    [InlineData(false, 1)]
    [InlineData(false, 3)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    [InlineData(true, 3)]
    public void EveryItemIsClaimedExactlyOnceOnEveryRun(bool guided, int threads)
    {
        const int MinChunk = 32, Granule = 16;
        using var pool = new ComputePool(threads);
        var job = new ChunkJob(guided, MinChunk, Granule);
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
                if (guided)
                {
                    // every chunk but the last is at least the minimum, and sizes never grow along the range
                    Assert.All(chunks.SkipLast(1), c => Assert.True(c.End - c.Start >= MinChunk, $"total {total}: chunk [{c.Start}, {c.End})"));
                    for (int i = 1; i + 1 < chunks.Length; i++)
                        Assert.True(chunks[i].End - chunks[i].Start <= chunks[i - 1].End - chunks[i - 1].Start,
                                    $"total {total}: chunk {i} [{chunks[i].Start}, {chunks[i].End}) larger than the one before");
                }
            }
    }

    [Fact]
    public void GuidedChunksShrinkSoTheLastOnesAreSmall()
    {
        using var pool = new ComputePool(1);
        var job = new ChunkJob(true, 32, 16) { Total = 3072, Visits = new int[3072] };
        pool.Run(job);
        var sizes = job.Chunks.OrderBy(c => c.Start).Select(c => c.End - c.Start).ToArray();
        Assert.Equal(3072 / 2 / 16 * 16, sizes[0]);   // one thread: half of what is left, rounded up to the granule
        Assert.Equal(32, sizes[^2]);
        Assert.True(sizes[^1] <= 32);
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

using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Tests.Tensors;

/// <summary>The decode prefetch-distance tuner against simulated step times (its own instance, not the process's).</summary>
public class PrefetchDistanceTunerTests
{
    /// <summary>Runs <paramref name="epochs"/> epochs of single-entry steps whose time is cost(distance), times a
    /// seeded noise of ±noise; returns the distance after each epoch.</summary>
    private static List<int> Run(PrefetchDistanceTuner tuner, int epochs, Func<int, double> cost, double noise, int seed)
    {
        var rng = new Random(seed);
        var after = new List<int>();
        for (int s = 0; s < epochs * PrefetchDistanceTuner.Epoch; s++)
        {
            Assert.True(tuner.Begin(1, out int distance));
            tuner.End((long)(cost(distance) * (1 + noise * (2 * rng.NextDouble() - 1))));
            if ((s + 1) % PrefetchDistanceTuner.Epoch == 0) after.Add(tuner.Current);
        }
        return after;
    }

    [Fact]
    public void MovesToTheFasterDistanceAndBackWhenThatChanges()
    {
        var tuner = new PrefetchDistanceTuner();
        Assert.Equal(PrefetchDistanceTuner.Near, tuner.Current);
        // as on a free bus: 8 KiB ahead 5 % faster
        var free = Run(tuner, 20, d => d == PrefetchDistanceTuner.Far ? 95_000 : 100_000, 0.02, seed: 1);
        int moved = free.IndexOf(PrefetchDistanceTuner.Far);
        Assert.InRange(moved, 0, 9);
        Assert.All(free.Skip(moved), d => Assert.Equal(PrefetchDistanceTuner.Far, d));
        // as on a busy bus: 8 KiB ahead 3 % slower
        var busy = Run(tuner, 40, d => d == PrefetchDistanceTuner.Far ? 103_000 : 100_000, 0.02, seed: 2);
        int back = busy.IndexOf(PrefetchDistanceTuner.Near);
        Assert.InRange(back, 0, 19);
        Assert.All(busy.Skip(back), d => Assert.Equal(PrefetchDistanceTuner.Near, d));
    }

    [Fact]
    public void NoiseAloneDoesNotMoveIt()
    {
        // the other distance 3 % slower, each step ±3 %: a thousand epochs (32,000 steps) without a move
        var tuner = new PrefetchDistanceTuner();
        var after = Run(tuner, 1000, d => d == PrefetchDistanceTuner.Far ? 103_000 : 100_000, 0.03, seed: 3);
        Assert.All(after, d => Assert.Equal(PrefetchDistanceTuner.Near, d));
        // equal distances: a move costs nothing then, but noise should seldom cause one
        after = Run(tuner, 1000, d => 100_000, 0.03, seed: 4);
        int moves = after.Zip(after.Skip(1)).Count(p => p.First != p.Second);
        Assert.True(moves <= 50, $"{moves} moves in 1000 epochs");
    }

    [Fact]
    public void EachEpochTriesTheOtherDistanceOnItsLastStepsOnly()
    {
        var tuner = new PrefetchDistanceTuner();
        var used = new List<int>();
        for (int s = 0; s < 2 * PrefetchDistanceTuner.Epoch; s++)
        {
            // (the distance also goes into Block32Rows.PrefetchAhead, which other tests' decodes set too)
            Assert.True(tuner.Begin(1, out int distance));
            used.Add(distance);
            tuner.End(1000);   // equal times: no move
        }
        for (int s = 0; s < used.Count; s++)
            Assert.Equal(s % PrefetchDistanceTuner.Epoch >= PrefetchDistanceTuner.Epoch - PrefetchDistanceTuner.Trial
                ? PrefetchDistanceTuner.Far : PrefetchDistanceTuner.Near, used[s]);
    }

    [Fact]
    public void OnlyLoneSingleEntryStepsAreTimed()
    {
        var tuner = new PrefetchDistanceTuner();
        Assert.False(tuner.Begin(2, out _));    // a batch: not timed, nothing held
        Assert.False(tuner.Begin(512, out _));
        Assert.True(tuner.Begin(1, out _));
        // while that step runs, another context's step is not timed (their times would include each other)
        bool other = true;
        var thread = new Thread(() => other = tuner.Begin(1, out _));
        thread.Start();
        thread.Join();
        Assert.False(other);
        tuner.End(1000);
        thread = new Thread(() => { other = tuner.Begin(1, out _); if (other) tuner.End(1000); });
        thread.Start();
        thread.Join();
        Assert.True(other);
    }
}

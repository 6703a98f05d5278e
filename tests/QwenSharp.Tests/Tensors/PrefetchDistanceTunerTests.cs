using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Tests.Tensors;

/// <summary>The decode prefetch-distance tuner against simulated step times (its own instance, not the process's).</summary>
public class PrefetchDistanceTunerTests
{
    // the setting it starts with, and two others
    private static readonly PrefetchDistanceTuner.Setting First = PrefetchDistanceTuner.Settings[0],
        Second = PrefetchDistanceTuner.Settings[1], Third = PrefetchDistanceTuner.Settings[2];

    /// <summary>Runs <paramref name="epochs"/> epochs of single-entry steps whose time is cost(setting), times a
    /// seeded noise of ±noise; returns the setting after each epoch.</summary>
    private static List<PrefetchDistanceTuner.Setting> Run(PrefetchDistanceTuner tuner, int epochs, Func<PrefetchDistanceTuner.Setting, double> cost,
                                                           double noise, int seed)
    {
        var rng = new Random(seed);
        var after = new List<PrefetchDistanceTuner.Setting>();
        for (int s = 0; s < epochs * PrefetchDistanceTuner.Epoch; s++)
        {
            Assert.True(tuner.Begin(1, out var setting));
            tuner.End((long)(cost(setting) * (1 + noise * (2 * rng.NextDouble() - 1))));
            if ((s + 1) % PrefetchDistanceTuner.Epoch == 0) after.Add(tuner.Current);
        }
        return after;
    }

    [Fact]
    public void MovesToTheFasterSettingAndOnWhenThatChanges()
    {
        var tuner = new PrefetchDistanceTuner();
        Assert.Equal(First, tuner.Current);
        // as when the bus frees up: another setting 5 % faster than the rest
        var free = Run(tuner, 30, s => s == Second ? 95_000 : 100_000, 0.02, seed: 1);
        int moved = free.IndexOf(Second);
        Assert.InRange(moved, 0, 14);   // each other setting is tried every third epoch
        Assert.All(free.Skip(moved), s => Assert.Equal(Second, s));
        // and when it changes again: a third one 3 % faster than the rest
        var busy = Run(tuner, 60, s => s == Third ? 97_000 : 100_000, 0.02, seed: 2);
        int back = busy.IndexOf(Third);
        Assert.InRange(back, 0, 29);
        Assert.All(busy.Skip(back), s => Assert.Equal(Third, s));
    }

    [Fact]
    public void NoiseAloneDoesNotMoveIt()
    {
        // every other setting 3 % slower, each step ±3 %: a thousand epochs (32,000 steps) without a move
        var tuner = new PrefetchDistanceTuner();
        var after = Run(tuner, 1000, s => s == First ? 100_000 : 103_000, 0.03, seed: 3);
        Assert.All(after, s => Assert.Equal(First, s));
        // equal settings: a move costs nothing then, but noise should seldom cause one
        after = Run(tuner, 1000, s => 100_000, 0.03, seed: 4);
        int moves = after.Zip(after.Skip(1)).Count(p => p.First != p.Second);
        Assert.True(moves <= 50, $"{moves} moves in 1000 epochs");
    }

    [Fact]
    public void EachEpochTriesTheNextOtherSettingOnItsLastStepsOnly()
    {
        var tuner = new PrefetchDistanceTuner();
        int others = PrefetchDistanceTuner.Settings.Length - 1;
        var used = new List<PrefetchDistanceTuner.Setting>();
        for (int s = 0; s < 2 * others * PrefetchDistanceTuner.Epoch; s++)
        {
            // (the setting also goes into Block32Rows' statics, which other tests' decodes set too)
            Assert.True(tuner.Begin(1, out var setting));
            used.Add(setting);
            tuner.End(1000);   // equal times: no move
        }
        for (int s = 0; s < used.Count; s++)
        {
            int epoch = s / PrefetchDistanceTuner.Epoch;
            bool trial = s % PrefetchDistanceTuner.Epoch >= PrefetchDistanceTuner.Epoch - PrefetchDistanceTuner.Trial;
            Assert.Equal(trial ? PrefetchDistanceTuner.Settings[1 + epoch % others] : PrefetchDistanceTuner.Settings[0], used[s]);
        }
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

/// <summary>Tests that read the kernels' prefetch statics run alone: every decode step elsewhere sets them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PrefetchStaticsCollection
{
    public const string Name = "decode prefetch statics";
}

/// <summary>What a setting does to the kernels: the first prefetch's distance, and the second prefetch's offset past
/// it (0, the first's own line, when the setting leaves it out).</summary>
[Collection(PrefetchStaticsCollection.Name)]
public class PrefetchSettingAppliedTests
{
    [Fact]
    public void EachSettingReachesTheKernelsAndBatchesGetTheirOwn()
    {
        int ahead = Block32Rows.PrefetchAhead, far = Block32Rows.FarOffset;
        try
        {
            var tuner = new PrefetchDistanceTuner();
            var seen = new HashSet<PrefetchDistanceTuner.Setting>();
            for (int s = 0; s < PrefetchDistanceTuner.Settings.Length * PrefetchDistanceTuner.Epoch; s++)
            {
                Assert.True(tuner.Begin(1, out var setting));
                seen.Add(setting);
                Assert.Equal(setting.Ahead, Block32Rows.PrefetchAhead);
                Assert.Equal(setting.Second ? Block32Rows.PrefetchFar : 0, Block32Rows.FarOffset);
                tuner.End(1000);
            }
            Assert.Equal(PrefetchDistanceTuner.Settings.ToHashSet(), seen);   // with and without the second prefetch
            // after a step the current setting is back in place; a batch reads with the batch setting
            Assert.Equal((tuner.Current.Ahead, tuner.Current.Second ? Block32Rows.PrefetchFar : 0), (Block32Rows.PrefetchAhead, Block32Rows.FarOffset));
            Assert.False(tuner.Begin(4, out _));
            var batch = PrefetchDistanceTuner.Batch;
            Assert.Equal((batch.Ahead, batch.Second ? Block32Rows.PrefetchFar : 0), (Block32Rows.PrefetchAhead, Block32Rows.FarOffset));
            Assert.NotEqual(batch, tuner.Current);   // else the check above could not tell them apart
        }
        finally
        {
            (Block32Rows.PrefetchAhead, Block32Rows.FarOffset) = (ahead, far);
        }
    }
}

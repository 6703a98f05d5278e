using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

public class XoshiroTests
{
    [Fact]
    public void MatchesPublishedXoshiro256StarStarSequence()
    {
        // Reference outputs of xoshiro256** from state {1, 2, 3, 4} (the authors' C code).
        var rng = new Xoshiro256StarStar(1, 2, 3, 4);
        Assert.Equal(11520UL, rng.NextUInt64());
        Assert.Equal(0UL, rng.NextUInt64());
        Assert.Equal(1509978240UL, rng.NextUInt64());
        Assert.Equal(1215971899390074240UL, rng.NextUInt64());
    }

    [Fact]
    public void SplitMix64FromZeroMatchesReference()
    {
        ulong x = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, Xoshiro256StarStar.SplitMix64(ref x));
    }

    [Fact]
    public void SameSeedSameStreamDifferentSeedDifferentStream()
    {
        var a = new Xoshiro256StarStar(42);
        var b = new Xoshiro256StarStar(42);
        var c = new Xoshiro256StarStar(43);
        bool differs = false;
        for (int i = 0; i < 100; i++)
        {
            ulong va = a.NextUInt64();
            Assert.Equal(va, b.NextUInt64());
            differs |= va != c.NextUInt64();
        }
        Assert.True(differs);
    }

    [Fact]
    public void NextDoubleIsInUnitIntervalWithMeanNearHalf()
    {
        var rng = new Xoshiro256StarStar(7);
        double sum = 0;
        const int n = 100_000;
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble();
            Assert.InRange(u, 0.0, 0.9999999999999999);
            sum += u;
        }
        Assert.InRange(sum / n, 0.497, 0.503);
    }
}

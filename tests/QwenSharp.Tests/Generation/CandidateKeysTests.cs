using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

public class CandidateKeysTests
{
    [Fact]
    public void KeyOrderIsLogitDescendingThenIdAscending()
    {
        float[] logits = [float.PositiveInfinity, 1e30f, 3.5f, 1f, 1e-30f, 0f, -1e-30f, -1f, -2.5f, -1e30f, float.NegativeInfinity];
        // Each logit ranks strictly before the next, whatever ids they carry.
        for (int i = 0; i + 1 < logits.Length; i++)
            Assert.True(CandidateKeys.Make(logits[i], 1000) < CandidateKeys.Make(logits[i + 1], 0), $"{logits[i]} vs {logits[i + 1]}");
        Assert.True(CandidateKeys.Make(2f, 3) < CandidateKeys.Make(2f, 4));
        Assert.Equal(CandidateKeys.Make(0f, 5), CandidateKeys.Make(-0f, 5));
        Assert.Equal(151935, CandidateKeys.Id(CandidateKeys.Make(-7f, 151935)));
    }

    [Theory]
    [InlineData(1000, 1, 1)]
    [InlineData(1000, 40, 2)]
    [InlineData(5000, 999, 3)]
    [InlineData(37, 37, 4)]
    [InlineData(37, 100, 5)]
    public void SelectTopKMatchesFullSort(int n, int k, int seed)
    {
        var rnd = new Random(seed);
        float[] logits = new float[n];
        for (int i = 0; i < n; i++) logits[i] = rnd.Next(3) == 0 ? rnd.Next(5) : (float)(rnd.NextDouble() * 10 - 5);   // many ties
        logits[n / 2] = float.NaN;
        logits[n / 3] = float.NegativeInfinity;

        var heap = new ulong[n];
        int got = CandidateKeys.SelectTopK(logits, k, heap);

        int[] expected = Enumerable.Range(0, n).Where(i => !float.IsNaN(logits[i]) && logits[i] != float.NegativeInfinity)
            .OrderByDescending(i => logits[i]).ThenBy(i => i).Take(k).ToArray();
        Assert.Equal(expected, heap.Take(got).Select(CandidateKeys.Id).ToArray());
    }
}

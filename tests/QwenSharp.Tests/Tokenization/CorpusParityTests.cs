using Xunit.Abstractions;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Our ids against HuggingFace tokenizers' on the corpus: every line, then the whole corpus as one text.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class CorpusParityTests(TokenizerFixture fx, ITestOutputHelper output)
{
    [Fact]
    public void EveryCorpusLineEncodesToTheOracleIds()
    {
        int ids = 0;
        var mismatches = new List<string>();
        foreach (string line in fx.CorpusLines)
        {
            int[] expected = fx.OracleIds(line);
            int[] actual = fx.Ours.Encode(line);
            ids += expected.Length;
            if (!actual.AsSpan().SequenceEqual(expected))
                mismatches.Add($"{Escape(line)}\n  ours   [{string.Join(",", actual)}]\n  oracle [{string.Join(",", expected)}]");
        }
        output.WriteLine($"lines compared: {fx.CorpusLines.Length}, ids compared: {ids}, mismatching lines: {mismatches.Count}");
        Assert.True(fx.CorpusLines.Length >= 250, "the corpus should have a few hundred lines");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(10)));
    }

    [Fact]
    public void TheWholeCorpusAsOneTextEncodesToTheOracleIds()
    {
        int[] expected = fx.OracleIds(fx.CorpusText);
        int[] actual = fx.Ours.Encode(fx.CorpusText);
        output.WriteLine($"ids compared: {expected.Length}");
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void TheSpanOverloadAppendsTheSameIds()
    {
        var list = new List<int> { -7 };
        fx.Ours.Encode(fx.CorpusText.AsSpan(), list);
        Assert.Equal(-7, list[0]);
        Assert.Equal(fx.OracleIds(fx.CorpusText), list.Skip(1));
    }

    [Fact]
    public void DecodingOurIdsGivesTheOraclesNormalisedText()
    {
        // decode(encode(x)) is NFC(x); the oracle's decode(encode(x)) is its NFC(x). Special tokens are left out
        // because the oracle's Decode drops them.
        int compared = 0;
        foreach (string line in fx.CorpusLines.Where(l => !l.Contains("<|") && !l.Contains("<t")))
        {
            string expected = fx.OracleDecode(fx.OracleIds(line));
            Assert.Equal(expected, fx.Ours.Decode(fx.Ours.Encode(line)));
            compared++;
        }
        Assert.True(compared > 200);
    }

    [Fact]
    public void EncodingFromSeveralThreadsAtOnceGivesTheSameIds()
    {
        var expected = fx.CorpusLines.Select(l => fx.Ours.Encode(l)).ToArray();
        var actual = new int[fx.CorpusLines.Length][];
        Parallel.For(0, fx.CorpusLines.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => actual[i % fx.CorpusLines.Length] = fx.Ours.Encode(fx.CorpusLines[i % fx.CorpusLines.Length]));
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    internal static string Escape(string s) =>
        string.Concat(s.Select(c => c < 32 || c > 126 ? $"\\u{(int)c:X4}" : c.ToString()));
}

using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

public class StopDetectorTests
{
    [Fact]
    public void WithoutStopStringsEverythingPassesThrough()
    {
        var d = new StopDetector([]);
        Assert.Equal(("abc<|im", false), d.Push("abc<|im"));
        Assert.Equal("", d.Flush());
    }

    [Fact]
    public void StopInsideOnePieceEmitsTheTextBeforeIt()
    {
        var d = new StopDetector(["<|im_end|>"]);
        Assert.Equal(("Hello", true), d.Push("Hello<|im_end|>ignored"));
        Assert.True(d.Stopped);
        Assert.Equal(("", true), d.Push("more"));
        Assert.Equal("", d.Flush());
    }

    [Fact]
    public void StopSplitAcrossPiecesIsHeldBackThenSwallowed()
    {
        var d = new StopDetector(["<|im_end|>"]);
        Assert.Equal(("Hel", false), d.Push("Hel"));
        Assert.Equal(("lo", false), d.Push("lo<|im"));
        Assert.Equal(("", false), d.Push("_en"));
        Assert.Equal(("", true), d.Push("d|> after"));
    }

    [Fact]
    public void FalseStartIsReleasedOnceItCannotBeAStop()
    {
        var d = new StopDetector(["<|im_end|>"]);
        Assert.Equal(("a", false), d.Push("a<|im"));
        Assert.Equal(("<|im_x", false), d.Push("_x"));
        Assert.Equal(("", false), d.Push("<"));
        Assert.Equal("<", d.Flush());
    }

    [Fact]
    public void EarliestOfSeveralStopsWins()
    {
        var d = new StopDetector(["END", "STOP"]);
        Assert.Equal(("x", true), d.Push("xSTOPyEND"));
    }

    [Fact]
    public void OverlappingPrefixesAreHandled()
    {
        var d = new StopDetector(["abcd"]);
        Assert.Equal(("", false), d.Push("ab"));
        Assert.Equal(("ab", true), d.Push("abcd"));
    }

    [Fact]
    public void EmptyStopStringsAreIgnored()
    {
        var d = new StopDetector(["", "Z"]);
        Assert.Equal(("abc", false), d.Push("abc"));
        Assert.Equal(("q", true), d.Push("qZ"));
    }

    [Fact]
    public void RandomStreamsMatchTheWholeTextReference()
    {
        // Over a tiny alphabet stop strings appear often and partial matches are everywhere.
        var rnd = new Random(17);
        string[] stops = ["aba", "bb", "cab"];
        for (int trial = 0; trial < 2000; trial++)
        {
            string text = new(Enumerable.Range(0, rnd.Next(0, 20)).Select(_ => "abc"[rnd.Next(3)]).ToArray());
            int firstStop = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
            string expected = firstStop >= 0 ? text[..firstStop] : text;

            var d = new StopDetector(stops);
            string emitted = "";
            bool stopped = false;
            for (int pos = 0; pos < text.Length && !stopped;)
            {
                int len = Math.Min(text.Length - pos, rnd.Next(1, 4));
                (string emit, stopped) = d.Push(text.Substring(pos, len));
                emitted += emit;
                pos += len;
                Assert.StartsWith(emitted, expected);   // nothing shown that a later stop would have hidden
            }
            emitted += d.Flush();
            Assert.Equal(expected, emitted);
            Assert.Equal(firstStop >= 0, stopped);
        }
    }
}

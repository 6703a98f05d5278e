using System.Text;
using QwenSharp.Tokenization.Unicode;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Our NFC: textbook cases from UAX #15, and every code point against HF tokenizers' normaliser.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class NfcTests(TokenizerFixture fx, ITestOutputHelper output)
{
    [Theory]
    [InlineData("e\u0301", "\u00E9")]                   // composition
    [InlineData("A\u030A", "\u00C5")]
    [InlineData("\u212B", "\u00C5")]                    // ANGSTROM SIGN is a singleton decomposition
    [InlineData("\u2126", "\u03A9")]                    // OHM SIGN
    [InlineData("\uFB01", "\uFB01")]                    // ligature: a compatibility mapping, which NFC leaves alone
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]        // Hangul jamo L V T compose algorithmically
    [InlineData("\uAC00\u11A8", "\uAC01")]              // LV syllable + T
    [InlineData("q\u0307\u0323", "q\u0323\u0307")]      // canonical order: class 220 before 230
    [InlineData("\u1E0B\u0323", "\u1E0D\u0307")]        // UAX #15's example: reorder, then compose the other way
    [InlineData("\u0958", "\u0915\u093C")]              // composition exclusion stays decomposed
    [InlineData("\u0344", "\u0308\u0301")]              // non-starter decomposition
    [InlineData("a\u0301\u0301", "\u00E1\u0301")]       // the second acute is blocked
    [InlineData("\u00E9\u0301", "\u00E9\u0301")]
    [InlineData("\u0301x", "\u0301x")]                  // a leading mark has nothing to join
    [InlineData("\U0001D15E", "\U0001D157\U0001D165")]  // astral composition exclusion
    [InlineData("\U0001D400 e\u0301", "\U0001D400 \u00E9")]
    [InlineData("Ka\u0308se", "K\u00E4se")]
    [InlineData("\u0627\u0653", "\u0622")]              // Arabic alef + madda
    [InlineData("x\uD800\u0301", "x\uD800\u0301")]      // a lone surrogate is inert
    public void NormalisesTextbookCases(string input, string expected)
    {
        Assert.Equal(expected, NfcNormalizer.Normalize(input));
        Assert.Equal(expected, NfcNormalizer.Normalize(expected));
    }

    [Fact]
    public void QuickCheckPassesOrdinaryTextWithoutWork()
    {
        Assert.True(NfcNormalizer.IsQuickCheckYes("plain ASCII, Größe, 中文, 한국어, ไทย ที่, 😀"));
        Assert.False(NfcNormalizer.IsQuickCheckYes("Cafe\u0301"));
        Assert.False(NfcNormalizer.IsQuickCheckYes("\u212B"));
        Assert.False(NfcNormalizer.IsQuickCheckYes("q\u0307\u0323"));   // out of canonical order
    }

    [Fact]
    public void OnlyTheTroubledStretchesOfLongTextChange()
    {
        string chunk = "Hello 世界, nai\u0308ve cafe\u0301. ";
        string expected = "Hello 世界, na\u00EFve caf\u00E9. ";
        var text = new StringBuilder();
        for (int i = 0; i < 200; i++) text.Append(chunk);
        Assert.Equal(string.Concat(Enumerable.Repeat(expected, 200)), NfcNormalizer.Normalize(text.ToString()));
    }

    [Fact]
    public void TablesArePinnedToTheUnicodeVersionHfTokenizersUses()
    {
        // U+08CA (ARABIC SMALL HIGH FARSI YEH, Unicode 14, class 230) has class 0 in HF's Unicode 9.0 tables, so it
        // is not reordered before the class-1 overlay that follows.
        Assert.Equal("9.0", NfcData.UnicodeVersion);
        Assert.Equal("x\u08CA\u0334", NfcNormalizer.Normalize("x\u08CA\u0334"));
        Assert.Equal(fx.OracleDecode(fx.OracleIds("x\u08CA\u0334")), NfcNormalizer.Normalize("x\u08CA\u0334"));
    }

    /// <summary>The whole Basic Multilingual Plane and every 16th astral code point; with QWENSHARP_EXHAUSTIVE=1 in the
    /// environment, every code point (about 2 minutes on 2 cores).</summary>
    [Fact]
    public void CodePointsNormaliseAndSplitAsTheOracleDoes()
    {
        bool exhaustive = Environment.GetEnvironmentVariable("QWENSHARP_EXHAUSTIVE") == "1";
        // Each code point in contexts that expose its NFC behaviour (alone, before a class-1 mark, after a class-240
        // mark) and its pre-tokenizer class (between letters, after space/tab/apostrophe, before a digit or newline).
        static string Snippet(int cp)
        {
            string c = char.ConvertFromUtf32(cp);
            return $"{c}|x{c}\u0334|x\u0345{c}|a{c}b| {c}a|\t{c}x|{c}1|x{c}\n|'{c}x| {c}{c} z|";
        }
        int mismatches = 0, codePoints = 0;
        var examples = new List<string>();
        const int Batch = 2048;
        var batch = new List<int>(Batch);
        for (int cp = 0; cp <= 0x10FFFF; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF || (!exhaustive && cp > 0xFFFF && cp % 16 != 0 && cp != 0x10FFFF)) continue;
            batch.Add(cp);
            if (batch.Count == Batch || cp == 0x10FFFF)
            {
                codePoints += batch.Count;
                string text = string.Concat(batch.Select(Snippet));
                if (!fx.Ours.Encode(text).AsSpan().SequenceEqual(fx.OracleIds(text)))
                {
                    foreach (int c in batch)
                    {
                        string s = Snippet(c);
                        if (fx.Ours.Encode(s).AsSpan().SequenceEqual(fx.OracleIds(s))) continue;
                        mismatches++;
                        if (examples.Count < 10) examples.Add($"U+{c:X4}");
                    }
                }
                batch.Clear();
            }
        }
        output.WriteLine($"code points compared: {codePoints} (10 contexts each), mismatches: {mismatches}");
        Assert.True(mismatches == 0, "differ from the oracle: " + string.Join(", ", examples));
    }
}

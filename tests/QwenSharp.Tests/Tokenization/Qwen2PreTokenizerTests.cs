using System.Text;
using System.Text.RegularExpressions;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>The hand-written scanner against the Qwen2 split regex: expected pieces worked out by hand from the
/// regex, and .NET's own regex engine as a reference twin on text without astral characters (where UTF-16 code units
/// and code points coincide, so .NET's \p{L} means the same as the Rust engine's).</summary>
public sealed class Qwen2PreTokenizerTests
{
    private const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly Regex Reference = new(Pattern, RegexOptions.CultureInvariant);

    internal static string[] Pieces(string text)
    {
        var pieces = new List<string>();
        for (int i = 0; i < text.Length;)
        {
            int length = Qwen2PreTokenizer.PieceLength(text, i);
            Assert.InRange(length, 1, text.Length - i);
            pieces.Add(text.Substring(i, length));
            i += length;
        }
        return pieces.ToArray();
    }

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("It's don't I'M 'LL", new[] { "It", "'s", " don", "'t", " I", "'M", " '", "LL" })]
    [InlineData("'sup'Ll're'x", new[] { "'s", "up", "'Ll", "'re", "'x" })]
    [InlineData("x'\u017Fx", new[] { "x", "'\u017F", "x" })]     // LONG S case-folds to s
    [InlineData("a''s", new[] { "a", "''", "s" })]
    [InlineData("' s", new[] { "'", " s" })]
    [InlineData("  x", new[] { " ", " x" })]
    [InlineData("a\n\n b", new[] { "a", "\n\n", " b" })]
    [InlineData("x  \n\n  y", new[] { "x", "  \n\n", " ", " y" })]
    [InlineData("a \t b", new[] { "a", " \t", " b" })]
    [InlineData("abc   ", new[] { "abc", "   " })]
    [InlineData("x  1", new[] { "x", " ", " ", "1" })]
    [InlineData("12345", new[] { "1", "2", "3", "4", "5" })]
    [InlineData("\U0001D400\U0001D401c", new[] { "\U0001D400\U0001D401c" })]   // astral letters are letters
    [InlineData("1\U0001D7CF2", new[] { "1", "\U0001D7CF", "2" })]               // and astral digits are digits
    [InlineData("\U00020000\U00020001 x", new[] { "\U00020000\U00020001", " x" })]
    [InlineData(" !!\n\nx", new[] { " !!\n\n", "x" })]
    [InlineData("...\r\n", new[] { "...\r\n" })]
    [InlineData("!hello \thello \nhello", new[] { "!hello", " ", "\thello", " \n", "hello" })]
    [InlineData("a\u00A0b a\u2028b", new[] { "a", "\u00A0b", " a", "\u2028b" })]
    [InlineData("x \u3000", new[] { "x", " \u3000" })]
    [InlineData("\r\n\r\n", new[] { "\r\n\r\n" })]
    [InlineData("中文abc", new[] { "中文abc" })]
    [InlineData("\u0663" + "4\u00BD", new[] { "\u0663", "4", "\u00BD" })]
    [InlineData("😀😀 👍🏽", new[] { "😀😀", " 👍🏽" })]
    public void SplitsAsTheRegexDoes(string text, string[] expected)
    {
        Assert.Equal(expected, Pieces(text));
    }

    [Fact]
    public void ALoneSurrogateIsASymbol()
    {
        // (Not inline data: xunit's serialisation mangles lone surrogates.) It encodes as U+FFFD, a symbol, too.
        Assert.Equal(["a", "\uD800b", " \uDC00"], Pieces("a\uD800b \uDC00"));
    }

    [Fact]
    public void AgreesWithDotNetRegexOnRandomBmpText()
    {
        // U+017F is left out: whether .NET's (?i) matches LONG S to 's' is its own casing table's business.
        string[] alphabet = [" ", " ", "\t", "\n", "\r", "\u00A0", "\u3000", "\u2028", "\u0085", "\v", "'", "'", "s", "S", "t",
            "r", "e", "E", "l", "L", "d", "m", "v", "a", "Z", "1", "9", "\u0663", "\u00BD", ".", ",", "!", "-", "_", "<", "|",
            "\u00E9", "\u0301", "中", "\u200D", "\uFFFD", "\u0000", "\uFB01", "\u0E48", "\u0E01", "\u3007", "\u02B0"];
        var random = new Random(20240601);
        for (int n = 0; n < 20000; n++)
        {
            var text = new StringBuilder();
            int length = random.Next(1, 24);
            for (int i = 0; i < length; i++) text.Append(alphabet[random.Next(alphabet.Length)]);
            string s = text.ToString();
            Assert.Equal(Reference.Matches(s).Select(m => m.Value).ToArray(), Pieces(s));
        }
    }

    [Fact]
    public void AgreesWithDotNetRegexOnTheCorpusWithoutAstralCharacters()
    {
        string corpus = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Tokenization", "corpus.txt"));
        int compared = 0;
        foreach (string line in corpus.Split('\n').Where(l => !l.Any(char.IsSurrogate) && !l.Contains('\u017F')))
        {
            Assert.Equal(Reference.Matches(line).Select(m => m.Value).ToArray(), Pieces(line));
            compared++;
        }
        Assert.True(compared > 200);
    }

    [Fact]
    public void PiecesTileTheText()
    {
        string text = "Any text at all: 123 \U0001F600\r\n\t x's";
        Assert.Equal(text, string.Concat(Pieces(text)));
    }
}

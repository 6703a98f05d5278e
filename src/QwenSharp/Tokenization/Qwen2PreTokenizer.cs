namespace QwenSharp.Tokenization;

/// <summary>
/// A hand-written scanner with exactly the matches of the Qwen2 split regex, run by a backtracking engine
/// (leftmost match, alternatives tried in order):
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// Why not System.Text.RegularExpressions: .NET's regex works on UTF-16 code units, so \p{L} and \p{N} never match an
/// astral letter or digit (𝐀, 𠀀, 𝟏) as one character; and a scanner is several times faster.
/// Every character matches some alternative, so the pieces tile the text with no gaps.
/// </summary>
internal static class Qwen2PreTokenizer
{
    /// <summary>The length in chars of the piece that starts at start (start &lt; text.Length).</summary>
    public static int PieceLength(ReadOnlySpan<char> text, int start)
    {
        char first = text[start];

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (first == '\'')
        {
            int contraction = ContractionLength(text, start + 1);
            if (contraction > 0) return 1 + contraction;
        }

        var cls = ClassAt(text, start, out int width);

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (cls == Qwen2CharClass.Letter) return LetterRunEnd(text, start + width) - start;
        if ((cls == Qwen2CharClass.Other || cls == Qwen2CharClass.Whitespace) && start + width < text.Length
            && ClassAt(text, start + width, out int nextWidth) == Qwen2CharClass.Letter)
            return LetterRunEnd(text, start + width + nextWidth) - start;

        // 3. \p{N}: a single digit
        if (cls == Qwen2CharClass.Number) return width;

        // 4. " ?[^\s\p{L}\p{N}]+[\r\n]*"
        int symbolStart = start;
        if (first == ' ' && start + 1 < text.Length && ClassAt(text, start + 1, out _) == Qwen2CharClass.Other)
            symbolStart = start + 1;
        if (ClassAt(text, symbolStart, out _) == Qwen2CharClass.Other)
        {
            int i = RunEnd(text, symbolStart, Qwen2CharClass.Other);
            while (i < text.Length && text[i] is '\r' or '\n') i++;
            return i - start;
        }

        // Only white space is left: W = the maximal run of \s from start.
        int lastBreakEnd = -1, lastWidth = width, end = start;
        while (end < text.Length)
        {
            var c = ClassAt(text, end, out int w);
            if (c == Qwen2CharClass.LineBreak) lastBreakEnd = end + w;
            else if (c != Qwen2CharClass.Whitespace) break;
            lastWidth = w;
            end += w;
        }
        // 5. \s*[\r\n]+ : backtracking ends the match just after the last line break in W.
        if (lastBreakEnd > 0) return lastBreakEnd - start;
        // 6. \s+(?!\S) : all of W at the end of the text, else W less its last character (which the next piece takes).
        if (end == text.Length) return end - start;
        if (end - lastWidth > start) return end - lastWidth - start;
        // 7. \s+ : a single white-space character before a non-space.
        return end - start;
    }

    /// <summary>Length (after the apostrophe) of a case-insensitive s|t|re|ve|m|ll|d, else 0.
    /// Case folding as Unicode defines it: 's' also matches U+017F LATIN SMALL LETTER LONG S.</summary>
    private static int ContractionLength(ReadOnlySpan<char> text, int i)
    {
        if (i >= text.Length) return 0;
        char a = text[i];
        char b = i + 1 < text.Length ? text[i + 1] : '\0';
        switch (a)
        {
            case 's' or 'S' or '\u017F':
            case 't' or 'T':
            case 'm' or 'M':
            case 'd' or 'D':
                return 1;
            case 'r' or 'R' when b is 'e' or 'E':
            case 'v' or 'V' when b is 'e' or 'E':
            case 'l' or 'L' when b is 'l' or 'L':
                return 2;
            default:
                return 0;
        }
    }

    private static int LetterRunEnd(ReadOnlySpan<char> text, int i) => RunEnd(text, i, Qwen2CharClass.Letter);

    private static int RunEnd(ReadOnlySpan<char> text, int i, Qwen2CharClass cls)
    {
        while (i < text.Length)
        {
            char c = text[i];
            if (c < 0x80)
            {
                // ASCII is most text: skip the surrogate logic.
                if (Qwen2CharClassifier.Of(c) != cls) break;
                i++;
                continue;
            }
            if (ClassAt(text, i, out int w) != cls) break;
            i += w;
        }
        return i;
    }

    /// <summary>Class of the code point at i; a surrogate pair counts as one character, a lone surrogate as Other.</summary>
    private static Qwen2CharClass ClassAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            return Qwen2CharClassifier.Of(char.ConvertToUtf32(c, text[i + 1]));
        }
        width = 1;
        return Qwen2CharClassifier.Of(c);
    }
}

using System.Globalization;

namespace QwenSharp.Tokenization;

/// <summary>The character classes the Qwen2 split regex distinguishes: \p{L}, \p{N}, [\r\n], other \s, and the rest.</summary>
internal enum Qwen2CharClass : byte
{
    Other = 0,
    Letter = 1,
    Number = 2,
    Whitespace = 3,   // \s other than \r and \n
    LineBreak = 4,    // exactly \r or \n: the regex names them apart from the rest of \s
}

/// <summary>Classifies code points for <see cref="Qwen2PreTokenizer"/>. BMP lookups hit a 64 KiB table; astral code
/// points (rare) ask CharUnicodeInfo directly, which .NET implements without ICU, so InvariantGlobalization is fine.</summary>
internal static class Qwen2CharClassifier
{
    private static readonly Qwen2CharClass[] bmp = BuildBmpTable();

    private static Qwen2CharClass[] BuildBmpTable()
    {
        var table = new Qwen2CharClass[0x10000];
        for (int cp = 0; cp < table.Length; cp++)
            table[cp] = (cp is >= 0xD800 and <= 0xDFFF) ? Qwen2CharClass.Other : Compute(cp);
        return table;
    }

    public static Qwen2CharClass Of(int cp) => cp < 0x10000 ? bmp[cp] : Compute(cp);

    /// <summary>Unicode White_Space, which is what Oniguruma's \s means for UTF-8 text (HF tokenizers' regex engine).
    /// Spelled out so that no runtime's idea of "white space" can shift it.</summary>
    internal static bool IsWhiteSpace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    private static Qwen2CharClass Compute(int cp)
    {
        if (cp is '\r' or '\n') return Qwen2CharClass.LineBreak;
        if (IsWhiteSpace(cp)) return Qwen2CharClass.Whitespace;
        switch (CharUnicodeInfo.GetUnicodeCategory(cp))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return Qwen2CharClass.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return Qwen2CharClass.Number;
            default:
                return Qwen2CharClass.Other;
        }
    }
}

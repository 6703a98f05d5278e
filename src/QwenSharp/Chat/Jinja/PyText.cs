using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>Python's view of strings where it differs from .NET's: whitespace as str.isspace() sees it, and
/// lengths, indexes and slices counted in code points (a .NET string counts UTF-16 units, so an emoji is 2).</summary>
internal static class PyText
{
    /// <summary>str.isspace() for one UTF-16 unit: .NET's white space plus the four separators U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    public static bool HasSurrogates(string s)
    {
        foreach (char c in s)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>The string as a list of code points (each a string of 1 or 2 UTF-16 units).</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                list.Add(s.Substring(i, 2));
                i++;
            }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static int Length(string s) => HasSurrogates(s) ? CodePoints(s).Count : s.Length;

    public static string RStrip(string s, string? chars = null)
    {
        int end = s.Length;
        while (end > 0 && IsStripped(s[end - 1], chars)) end--;
        return s[..end];
    }

    public static string LStrip(string s, string? chars = null)
    {
        int start = 0;
        while (start < s.Length && IsStripped(s[start], chars)) start++;
        return s[start..];
    }

    public static string Strip(string s, string? chars = null) => LStrip(RStrip(s, chars), chars);

    private static bool IsStripped(char c, string? chars) => chars is null ? IsSpace(c) : chars.Contains(c);

    /// <summary>str.splitlines() without keepends: the line boundaries Python recognises.</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            bool boundary = c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029';
            if (!boundary) continue;
            lines.Add(s[start..i]);
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    public static string Repeat(string s, long count)
    {
        if (count <= 0 || s.Length == 0) return "";
        var sb = new StringBuilder(checked((int)(s.Length * count)));
        for (long i = 0; i < count; i++) sb.Append(s);
        return sb.ToString();
    }
}

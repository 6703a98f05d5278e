using System.Text;

namespace QwenSharp.Formats;

/// <summary>Makes keys and tensor names read from a file safe to put in a one-line error message: control
/// characters are escaped and very long names shortened, since a corrupt file can hold anything there.</summary>
internal static class GgufPrintable
{
    private const int MaxLength = 120;

    public static string Name(string name)
    {
        bool clean = name.Length <= MaxLength;
        foreach (char c in name) clean &= !char.IsControl(c);
        if (clean) return name;

        var sb = new StringBuilder(Math.Min(name.Length, MaxLength) + 8);
        foreach (char c in name)
        {
            if (sb.Length >= MaxLength) { sb.Append('…'); break; }
            if (char.IsControl(c)) sb.Append($"\\x{(int)c:X2}");
            else sb.Append(c);
        }
        return sb.ToString();
    }
}

using System.Text;

namespace QwenSharp.Tokenization.Unicode;

/// <summary>Unicode NFC (UAX #15), our own because .NET's string.Normalize does nothing at all under
/// InvariantGlobalization (it neither throws nor normalises). Text that passes the quick check, which is nearly all
/// text, is never copied; otherwise only the stretches between stable starters around a problem are rebuilt.</summary>
internal static class NfcNormalizer
{
    [ThreadStatic] private static List<int>? scratchCodePoints;

    /// <summary>True when the quick check proves text is already NFC (so it can be used as it is).</summary>
    public static bool IsQuickCheckYes(ReadOnlySpan<char> text) => FindFirstProblem(text, 0, out _) < 0;

    public static string Normalize(string text)
    {
        if (IsQuickCheckYes(text)) return text;
        var buffer = new GrowableBuffer<char>(text.Length + 16);
        Normalize(text, buffer);
        return new string(buffer.Span);
    }

    /// <summary>Appends NFC(text) to output.</summary>
    public static void Normalize(ReadOnlySpan<char> text, GrowableBuffer<char> output)
    {
        int copiedUpTo = 0;
        while (true)
        {
            int problem = FindFirstProblem(text, copiedUpTo, out int segmentStart);
            if (problem < 0) break;
            int segmentEnd = NextStableStarter(text, problem);
            output.Append(text[copiedUpTo..segmentStart]);
            NormalizeSegment(text[segmentStart..segmentEnd], output);
            copiedUpTo = segmentEnd;
        }
        output.Append(text[copiedUpTo..]);
    }

    /// <summary>Quick check from start (a stable boundary). Returns the index of the first code point that may need
    /// work, or -1; segmentStart is the last stable starter before it, where rebuilding must begin.</summary>
    private static int FindFirstProblem(ReadOnlySpan<char> text, int start, out int segmentStart)
    {
        segmentStart = start;
        int lastClass = 0;
        for (int i = start; i < text.Length;)
        {
            char c = text[i];
            if (c < 0x300)
            {
                // Everything below U+0300 is a stable starter (the generator asserts it).
                lastClass = 0;
                segmentStart = i++;
                continue;
            }
            int cp = ReadCodePoint(text, i, out int width);
            int props = NfcProperties.Get(cp);
            if (props == 0)
            {
                lastClass = 0;
                segmentStart = i;
            }
            else
            {
                int cls = props & 0xFF;
                if ((props & NfcProperties.QuickCheckNotYes) != 0 || (cls != 0 && lastClass > cls)) return i;
                lastClass = cls;
            }
            i += width;
        }
        return -1;
    }

    private static int NextStableStarter(ReadOnlySpan<char> text, int problem)
    {
        ReadCodePoint(text, problem, out int width);
        int i = problem + width;
        while (i < text.Length)
        {
            int cp = ReadCodePoint(text, i, out width);
            if (cp < 0x300 || NfcProperties.IsStableStarter(cp)) break;
            i += width;
        }
        return i;
    }

    /// <summary>Decompose fully, put combining marks in canonical order, then compose (UAX #15 sections 9-10).</summary>
    private static void NormalizeSegment(ReadOnlySpan<char> segment, GrowableBuffer<char> output)
    {
        var cps = scratchCodePoints ??= new List<int>(64);
        cps.Clear();
        for (int i = 0; i < segment.Length;)
        {
            int cp = ReadCodePoint(segment, i, out int width);
            NfcCompositionTables.AppendDecomposition(cp, cps);
            i += width;
        }

        // Canonical ordering: a stable insertion sort of each run of non-starters by combining class.
        for (int k = 1; k < cps.Count; k++)
        {
            int cls = NfcProperties.CombiningClass(cps[k]);
            if (cls == 0) continue;
            for (int j = k; j > 0 && NfcProperties.CombiningClass(cps[j - 1]) > cls; j--)
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
        }

        // Canonical composition: a character joins the last starter unless something between them blocks it
        // (a starter, or a mark of the same or higher class).
        int starter = -1, lastClass = -1, written = 0;
        for (int k = 0; k < cps.Count; k++)
        {
            int cp = cps[k];
            int cls = NfcProperties.CombiningClass(cp);
            if (starter >= 0 && (lastClass == 0 || lastClass < cls)
                && NfcCompositionTables.TryCompose(cps[starter], cp, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (cls == 0) starter = written;
            lastClass = cls;
            cps[written++] = cp;
        }

        for (int k = 0; k < written; k++) WriteCodePoint(cps[k], output);
    }

    /// <summary>The code point at i; a lone surrogate is returned as itself (it has no NFC properties).</summary>
    internal static int ReadCodePoint(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, text[i + 1]);
        }
        width = 1;
        return c;
    }

    private static void WriteCodePoint(int cp, GrowableBuffer<char> output)
    {
        if (cp < 0x10000)
        {
            output.Add((char)cp);
            return;
        }
        var rune = new Rune(cp);
        Span<char> pair = stackalloc char[2];
        rune.EncodeToUtf16(pair);
        output.Append(pair);
    }
}

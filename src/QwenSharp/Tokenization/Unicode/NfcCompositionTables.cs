namespace QwenSharp.Tokenization.Unicode;

/// <summary>Canonical decomposition and composition lookups (Hangul syllables are algorithmic, handled here too).
/// Only the slow path of <see cref="NfcNormalizer"/> uses them.</summary>
internal static class NfcCompositionTables
{
    private const int HangulSBase = 0xAC00, HangulLBase = 0x1100, HangulVBase = 0x1161, HangulTBase = 0x11A7;
    private const int HangulLCount = 19, HangulVCount = 21, HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount, HangulSCount = HangulLCount * HangulNCount;

    // code point -> offset of its (length, code points...) record in NfcData.Decompositions
    private static readonly Dictionary<int, int> decompositionOffsets = BuildDecompositionOffsets();
    private static readonly Dictionary<long, int> composites = BuildComposites();

    private static Dictionary<int, int> BuildDecompositionOffsets()
    {
        ReadOnlySpan<int> data = NfcData.Decompositions;
        var map = new Dictionary<int, int>();
        for (int i = 0; i < data.Length; i += 2 + data[i + 1]) map[data[i]] = i + 1;
        return map;
    }

    private static Dictionary<long, int> BuildComposites()
    {
        ReadOnlySpan<int> data = NfcData.Compositions;
        var map = new Dictionary<long, int>(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3) map[PairKey(data[i], data[i + 1])] = data[i + 2];
        return map;
    }

    private static long PairKey(int first, int second) => ((long)first << 21) | (uint)second;

    /// <summary>Appends the full canonical decomposition of cp (cp itself when it has none).</summary>
    public static void AppendDecomposition(int cp, List<int> output)
    {
        int s = cp - HangulSBase;
        if ((uint)s < HangulSCount)
        {
            output.Add(HangulLBase + s / HangulNCount);
            output.Add(HangulVBase + s % HangulNCount / HangulTCount);
            if (s % HangulTCount != 0) output.Add(HangulTBase + s % HangulTCount);
            return;
        }
        if (cp >= 0xC0 && decompositionOffsets.TryGetValue(cp, out int offset))
        {
            ReadOnlySpan<int> data = NfcData.Decompositions;
            int length = data[offset];
            for (int k = 1; k <= length; k++) output.Add(data[offset + k]);
            return;
        }
        output.Add(cp);
    }

    /// <summary>The primary composite of (first, second), if there is one.</summary>
    public static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - HangulLBase, v = second - HangulVBase;
        if ((uint)l < HangulLCount && (uint)v < HangulVCount)
        {
            composite = HangulSBase + (l * HangulVCount + v) * HangulTCount;
            return true;
        }
        int s = first - HangulSBase, t = second - HangulTBase;
        if ((uint)s < HangulSCount && s % HangulTCount == 0 && t > 0 && t < HangulTCount)
        {
            composite = first + t;
            return true;
        }
        return composites.TryGetValue(PairKey(first, second), out composite);
    }
}

namespace QwenSharp.Tokenization.Unicode;

/// <summary>Per-code-point facts the NFC normaliser asks for constantly (combining class, quick-check verdict),
/// unpacked once from <see cref="NfcData"/> into a two-level table so a lookup is two array reads.</summary>
internal static class NfcProperties
{
    /// <summary>Set in a property value when NFC_Quick_Check is No or Maybe: text containing it may change under NFC.</summary>
    public const int QuickCheckNotYes = 0x100;

    private const int BlockShift = 7;
    private const int BlockMask = (1 << BlockShift) - 1;

    // blockIndex[cp >> 7] names a 128-entry block of values; block 0 is all zero and shared by most of Unicode.
    private static readonly ushort[] blockIndex;
    private static readonly ushort[] blocks;

    static NfcProperties()
    {
        var touched = new Dictionary<int, ushort[]>();
        ushort[] Block(int cp)
        {
            int b = cp >> BlockShift;
            if (!touched.TryGetValue(b, out var block)) touched[b] = block = new ushort[1 << BlockShift];
            return block;
        }

        ReadOnlySpan<int> ccc = NfcData.CombiningClassRanges;
        for (int i = 0; i < ccc.Length; i += 3)
            for (int cp = ccc[i]; cp <= ccc[i + 1]; cp++) Block(cp)[cp & BlockMask] |= (ushort)ccc[i + 2];

        ReadOnlySpan<int> qc = NfcData.QuickCheckNotYesRanges;
        for (int i = 0; i < qc.Length; i += 2)
            for (int cp = qc[i]; cp <= qc[i + 1]; cp++) Block(cp)[cp & BlockMask] |= QuickCheckNotYes;

        blockIndex = new ushort[(0x10FFFF >> BlockShift) + 1];
        blocks = new ushort[(touched.Count + 1) << BlockShift];
        int next = 1;
        foreach (var (b, block) in touched.OrderBy(kv => kv.Key))
        {
            block.CopyTo(blocks, next << BlockShift);
            blockIndex[b] = (ushort)next++;
        }
    }

    /// <summary>Combining class in the low byte, <see cref="QuickCheckNotYes"/> above it. cp must be 0..0x10FFFF.</summary>
    public static int Get(int cp) => blocks[(blockIndex[cp >> BlockShift] << BlockShift) | (cp & BlockMask)];

    public static int CombiningClass(int cp) => Get(cp) & 0xFF;

    /// <summary>A starter that never combines with what comes before it: NFC never looks across the boundary in front of it.</summary>
    public static bool IsStableStarter(int cp) => Get(cp) == 0;
}

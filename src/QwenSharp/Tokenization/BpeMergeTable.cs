namespace QwenSharp.Tokenization;

/// <summary>(left id, right id) -> merge rank, as an open-addressing hash table: the BPE inner loop asks it for every
/// adjacent pair, so it avoids Dictionary's indirection. The merged token's id is found by rank in <see cref="MergedIdByRank"/>.</summary>
internal sealed class BpeMergeTable
{
    private const long Empty = -1;

    private readonly long[] keys;
    private readonly int[] ranks;
    private readonly int shift;

    /// <summary>merges[rank] = (left, right, merged) token ids. When a pair repeats, the later rank wins, as in HF tokenizers
    /// (its merge map is built by inserting in order).</summary>
    public BpeMergeTable(IReadOnlyList<(int Left, int Right, int Merged)> merges)
    {
        int bits = 4;
        while ((1 << bits) < merges.Count * 3) bits++;
        shift = 64 - bits;
        keys = new long[1 << bits];
        ranks = new int[1 << bits];
        keys.AsSpan().Fill(Empty);
        MergedIdByRank = new int[merges.Count];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right, merged) = merges[rank];
            MergedIdByRank[rank] = merged;
            long key = Key(left, right);
            int slot = Slot(key);
            while (keys[slot] != Empty && keys[slot] != key) slot = (slot + 1) & (keys.Length - 1);
            keys[slot] = key;
            ranks[slot] = rank;
        }
    }

    public int[] MergedIdByRank { get; }

    /// <summary>The rank of merging left and right, or -1 when they do not merge.</summary>
    public int Rank(int left, int right)
    {
        long key = Key(left, right);
        int slot = Slot(key);
        while (true)
        {
            long k = keys[slot];
            if (k == key) return ranks[slot];
            if (k == Empty) return -1;
            slot = (slot + 1) & (keys.Length - 1);
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private int Slot(long key) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15)) >> shift);
}

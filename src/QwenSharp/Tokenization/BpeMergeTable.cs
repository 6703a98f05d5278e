namespace QwenSharp.Tokenization;

/// <summary>(left id, right id) -> merge rank, as an open-addressing hash table: the BPE inner loop asks it for every
/// adjacent pair. Each slot is one ulong holding left (21 bits), right (21 bits) and rank (22 bits), so a lookup
/// touches a single cache line: on a cache-cold word, memory latency is what BPE costs. The merged token's id is
/// found by rank in <see cref="MergedIdByRank"/>.</summary>
internal sealed class BpeMergeTable
{
    public const int MaxTokenId = (1 << 21) - 2;   // (2^21 - 1, 2^21 - 1, ...) is reserved for the empty slot
    public const int MaxMerges = 1 << 22;

    private const ulong Empty = ulong.MaxValue;
    private const int RankBits = 22;

    private readonly ulong[] slots;
    private readonly int shift;

    /// <summary>merges[rank] = (left, right, merged) token ids. When a pair repeats, the later rank wins, as in HF tokenizers
    /// (its merge map is built by inserting in order).</summary>
    public BpeMergeTable(IReadOnlyList<(int Left, int Right, int Merged)> merges)
    {
        if (merges.Count > MaxMerges) throw new QwenSharpException($"{merges.Count} merges are more than the {MaxMerges} supported.");
        int bits = 4;
        while ((1 << bits) < merges.Count * 3) bits++;
        shift = 64 - bits;
        slots = new ulong[1 << bits];
        slots.AsSpan().Fill(Empty);
        MergedIdByRank = new int[merges.Count];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right, merged) = merges[rank];
            if ((uint)left > MaxTokenId || (uint)right > MaxTokenId)
                throw new QwenSharpException($"Token ids above {MaxTokenId} are not supported.");
            MergedIdByRank[rank] = merged;
            ulong pair = Pair(left, right);
            int slot = Slot(pair);
            while (slots[slot] != Empty && (slots[slot] >> RankBits) != pair) slot = (slot + 1) & (slots.Length - 1);
            slots[slot] = (pair << RankBits) | (uint)rank;
        }
    }

    public int[] MergedIdByRank { get; }

    /// <summary>The rank of merging left and right, or -1 when they do not merge.</summary>
    public int Rank(int left, int right)
    {
        ulong pair = Pair(left, right);
        int slot = Slot(pair);
        while (true)
        {
            ulong entry = slots[slot];
            if ((entry >> RankBits) == pair) return entry == Empty ? -1 : (int)(entry & ((1u << RankBits) - 1));
            if (entry == Empty) return -1;
            slot = (slot + 1) & (slots.Length - 1);
        }
    }

    /// <summary>42 bits: left then right. Ids outside 0..MaxTokenId (never produced by the encoder) simply miss.</summary>
    private static ulong Pair(int left, int right) => ((ulong)(uint)left << 21) | (uint)right;

    private int Slot(ulong pair) => (int)((pair * 0x9E3779B97F4A7C15UL) >> shift);
}

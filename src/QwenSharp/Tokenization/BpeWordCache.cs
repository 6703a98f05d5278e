namespace QwenSharp.Tokenization;

/// <summary>Piece text -> its BPE ids, so common words are merged once. Lookups take a span (no string is made for a
/// hit); the ids of all entries share one arena. When it grows past its limit it is simply emptied: a bounded memory
/// price for skewed real text. Not thread-safe: each thread has its own (see <see cref="EncodeScratch"/>).</summary>
internal sealed class BpeWordCache
{
    /// <summary>Longer pieces are rare and unlikely to repeat; caching them would only churn the arena.</summary>
    public const int MaxPieceLength = 64;
    private const int MaxEntries = 1 << 16;

    private readonly Dictionary<string, (int Offset, int Count)> entries = new();
    private readonly Dictionary<string, (int Offset, int Count)>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly GrowableBuffer<int> arena = new(1 << 12);

    public BpeWordCache() => lookup = entries.GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryGet(ReadOnlySpan<char> piece, out ReadOnlySpan<int> ids)
    {
        if (lookup.TryGetValue(piece, out var entry))
        {
            ids = arena.Span.Slice(entry.Offset, entry.Count);
            return true;
        }
        ids = default;
        return false;
    }

    public void Add(ReadOnlySpan<char> piece, ReadOnlySpan<int> ids)
    {
        if (entries.Count >= MaxEntries)
        {
            entries.Clear();
            arena.Clear();
        }
        lookup[piece] = (arena.Length, ids.Length);
        arena.Append(ids);
    }
}

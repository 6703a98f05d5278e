namespace QwenSharp.Tokenization;

/// <summary>A reusable array that grows by doubling and is cleared without freeing: the scratch space of the
/// encoder and decoders, so that steady-state work allocates nothing.</summary>
internal sealed class GrowableBuffer<T>
{
    private T[] items;

    public GrowableBuffer(int initialCapacity = 64) => items = new T[Math.Max(1, initialCapacity)];

    public int Length { get; private set; }

    public Span<T> Span => items.AsSpan(0, Length);

    public T[] RawArray => items;

    public void Clear() => Length = 0;

    public void Add(T item)
    {
        if (Length == items.Length) Grow(Length + 1);
        items[Length++] = item;
    }

    public void Append(ReadOnlySpan<T> values)
    {
        if (Length + values.Length > items.Length) Grow(Length + values.Length);
        values.CopyTo(items.AsSpan(Length));
        Length += values.Length;
    }

    /// <summary>Makes room for count more items and returns that room; call <see cref="Commit"/> with how many were written.</summary>
    public Span<T> Reserve(int count)
    {
        if (Length + count > items.Length) Grow(Length + count);
        return items.AsSpan(Length, count);
    }

    public void Commit(int count) => Length += count;

    /// <summary>Drops the first count items, keeping the rest in order.</summary>
    public void RemoveFront(int count)
    {
        items.AsSpan(count, Length - count).CopyTo(items);
        Length -= count;
    }

    /// <summary>Empties the buffer, and lets go of its array if one huge job made it bigger than maxCapacity.</summary>
    public void ClearAndTrim(int maxCapacity)
    {
        Length = 0;
        if (items.Length > maxCapacity) items = new T[Math.Max(1, maxCapacity / 16)];
    }

    /// <summary>Drops the last count items.</summary>
    public void RemoveBack(int count) => Length -= count;

    private void Grow(int needed)
    {
        int size = items.Length;
        while (size < needed) size = checked(size * 2);
        Array.Resize(ref items, size);
    }
}

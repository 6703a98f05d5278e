namespace QwenSharp.Tokenization;

/// <summary>Byte-level BPE for one pre-tokenised piece, with HF tokenizers' merge order: always the pending merge of
/// lowest rank, the leftmost one among equals. Symbols live in a linked list over arrays and candidate merges in a
/// binary min-heap keyed (rank, position), so a word of n bytes costs O(n log n). One instance per thread (it owns
/// its scratch arrays).</summary>
internal sealed class BpeWordMerger
{
    private int[] ids = new int[64];
    private int[] prev = new int[64];
    private int[] next = new int[64];
    private long[] heap = new long[64];
    private int heapCount;

    /// <summary>Appends the token ids of bytes (which must not be empty) to output.</summary>
    public void Merge(ReadOnlySpan<byte> bytes, int[] byteToId, BpeMergeTable table, GrowableBuffer<int> output)
    {
        int n = bytes.Length;
        if (n == 1)
        {
            output.Add(byteToId[bytes[0]]);
            return;
        }
        EnsureCapacity(n);
        for (int i = 0; i < n; i++)
        {
            ids[i] = byteToId[bytes[i]];
            prev[i] = i - 1;
            next[i] = i + 1;
        }
        next[n - 1] = -1;

        heapCount = 0;
        for (int i = 0; i + 1 < n; i++) PushIfMerges(table, i, ids[i], ids[i + 1]);

        int[] mergedIdByRank = table.MergedIdByRank;
        while (heapCount > 0)
        {
            long top = Pop();
            int rank = (int)(top >> 32), pos = (int)top;
            // Skip merges made stale by earlier ones: the left symbol was absorbed, or the pair it starts changed.
            // The check compares the merged id, as HF does, not the rank.
            if (ids[pos] < 0) continue;
            int right = next[pos];
            if (right < 0) continue;
            int currentRank = table.Rank(ids[pos], ids[right]);
            if (currentRank < 0 || mergedIdByRank[currentRank] != mergedIdByRank[rank]) continue;

            ids[pos] = mergedIdByRank[rank];
            ids[right] = -1;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) prev[after] = pos;

            if (prev[pos] >= 0) PushIfMerges(table, prev[pos], ids[prev[pos]], ids[pos]);
            if (after >= 0) PushIfMerges(table, pos, ids[pos], ids[after]);
        }

        for (int i = 0; i >= 0; i = next[i]) output.Add(ids[i]);
    }

    private void PushIfMerges(BpeMergeTable table, int pos, int left, int right)
    {
        int rank = table.Rank(left, right);
        if (rank >= 0) Push(((long)rank << 32) | (uint)pos);
    }

    private void Push(long item)
    {
        if (heapCount == heap.Length) Array.Resize(ref heap, heap.Length * 2);
        int i = heapCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (heap[parent] <= item) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = item;
    }

    private long Pop()
    {
        long top = heap[0];
        long last = heap[--heapCount];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= heapCount) break;
            if (child + 1 < heapCount && heap[child + 1] < heap[child]) child++;
            if (heap[child] >= last) break;
            heap[i] = heap[child];
            i = child;
        }
        if (heapCount > 0) heap[i] = last;
        return top;
    }

    private void EnsureCapacity(int n)
    {
        if (ids.Length >= n) return;
        int size = ids.Length;
        while (size < n) size *= 2;
        ids = new int[size];
        prev = new int[size];
        next = new int[size];
    }
}

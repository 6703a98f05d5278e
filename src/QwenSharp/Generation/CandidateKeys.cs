namespace QwenSharp.Generation;

/// <summary>
/// Packs (logit, token id) into one ulong whose ascending order is "logit descending, then id ascending", so
/// ranking candidates is a primitive integer sort or selection with no comparer, and ties always break toward
/// the lowest id.
/// </summary>
internal static class CandidateKeys
{
    public static ulong Make(float logit, int id)
    {
        // Adding +0 turns -0 into +0 so the two zeros rank as equal.
        uint bits = BitConverter.SingleToUInt32Bits(logit + 0f);
        // Order-preserving map of IEEE floats onto unsigned integers: flip all bits of negatives, the sign bit of positives.
        uint ordered = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return ((ulong)~ordered << 32) | (uint)id;
    }

    public static int Id(ulong key) => (int)(uint)key;

    /// <summary>Keeps the <paramref name="k"/> smallest keys (best candidates) of a stream in a max-heap:
    /// most tokens fail the single comparison with the heap's worst, so this is close to one pass over the logits.</summary>
    public static int SelectTopK(ReadOnlySpan<float> logits, int k, Span<ulong> heap)
    {
        int size = 0;
        // Once the heap is full, a token needs a logit strictly above the worst kept one: ids rise as we scan,
        // so an equal logit would lose the tie. This float test rejects most tokens without building a key.
        float worst = float.NegativeInfinity;
        for (int id = 0; id < logits.Length; id++)
        {
            float logit = logits[id];
            if (!(logit > worst)) continue;   // also skips NaN and -infinity
            ulong key = Make(logit, id);
            if (size < k)
            {
                heap[size] = key;
                SiftUp(heap, size++);
                if (size == k) worst = logits[Id(heap[0])];
            }
            else
            {
                heap[0] = key;
                SiftDown(heap[..size], 0);
                worst = logits[Id(heap[0])];
            }
        }
        heap[..size].Sort();
        return size;
    }

    private static void SiftUp(Span<ulong> heap, int i)
    {
        ulong item = heap[i];
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (heap[parent] >= item) break;
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = item;
    }

    private static void SiftDown(Span<ulong> heap, int i)
    {
        ulong item = heap[i];
        int n = heap.Length;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && heap[child + 1] > heap[child]) child++;
            if (heap[child] <= item) break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = item;
    }
}

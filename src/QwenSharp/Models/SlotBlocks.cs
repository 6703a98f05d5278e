namespace QwenSharp.Models;

/// <summary>Which quantization blocks a slot of a decode job finishes, when each slot produces a run of a row's
/// elements [start, end) and the row is then quantized in blocks of <c>block</c> elements: the whole blocks inside
/// the run, plus each block cut by one of its edges if this slot is the second of the two that share it to get
/// there (one counter per edge, each on its own cache line), so no thread waits for another inside the run. Every
/// slot must be at least one block long, so a block is cut by one edge at most.</summary>
internal sealed class SlotBlocks
{
    private const int Stride = 16;   // ints: 64 bytes, one cache line per edge
    private readonly int[] _edges;   // edge e (between slot e - 1 and slot e): sides finished this run

    public SlotBlocks(int slots) => _edges = new int[(slots + 1) * Stride];

    /// <summary>Before a run, by the calling thread (no thread is in the job between runs).</summary>
    public void Reset() => Array.Clear(_edges);

    /// <summary>The whole blocks inside a slot's run [start, end) (an empty range when none), which the slot finishes
    /// itself.</summary>
    public static (int Start, int End) Inner(int start, int end, int block) =>
        ((start + block - 1) / block * block, end / block * block);

    /// <summary>The block cut by the slot's left edge, if this caller got there second; else an empty range.</summary>
    public (int Start, int End) LeftCut(int slot, int start, int block)
    {
        if (start % block == 0 || Interlocked.Increment(ref _edges[slot * Stride]) != 2) return (0, 0);
        return (start / block * block, (start / block + 1) * block);
    }

    /// <summary>The block cut by the slot's right edge, if this caller got there second; else an empty range.</summary>
    public (int Start, int End) RightCut(int slot, int end, int block)
    {
        if (end % block == 0 || Interlocked.Increment(ref _edges[(slot + 1) * Stride]) != 2) return (0, 0);
        return (end / block * block, (end / block + 1) * block);
    }

    /// <summary>Whether every slot of <paramref name="total"/> elements split over <paramref name="slots"/> threads
    /// as <see cref="QwenSharp.Tensors.ComputeJob.Slice"/> splits them is at least one block long.</summary>
    public static bool EverySlotHoldsABlock(int total, int slots, int granule, int block)
    {
        for (int s = 0; s < slots; s++)
        {
            var (a, b) = QwenSharp.Tensors.ComputeJob.Slice(total, s, slots, granule);
            if (b - a < block) return false;
        }
        return true;
    }
}

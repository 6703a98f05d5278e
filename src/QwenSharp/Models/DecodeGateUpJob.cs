using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>A decode step's gate and up projections, SwiGLU and the quantization of its output for the down
/// projection, for one entry, as one job: thread t takes slot t (an equal run of the feed-forward rows, the same
/// rows of gate and of up), computes them, and itself applies SwiGLU to them and quantizes the activation blocks that
/// lie inside its rows. A block that straddles two slots is finished by whichever thread finishes the second of
/// them (a counter per slot edge), so nobody waits for anybody inside the run.
///
/// Why: the general path (a gate/up matmul split by rows, then SwiGLU and quantization on the calling thread) makes
/// the calling thread read the other threads' gate and up rows (11 KiB from one other thread at 0.5B), and those
/// threads then write into lines the caller holds at the next layer. When the two vCPUs share no cache (on this
/// project's VM, cross-core latency flips between about 40 and 200 ns with where the host places them) each of those
/// lines is a cross-die transfer. Here each thread reads back only what it wrote; the down projection reads the
/// quantized row (about 3 KiB) as before. Same kernels, same order per element and per block, so the same bits.
///
/// Slots are taken as in <see cref="DecodeAttentionJob"/> (own slot first, then the others' from the far end), so
/// a late thread's share is done by whoever is there.</summary>
internal sealed unsafe class DecodeGateUpJob : ComputeJob
{
    private const int FlagStride = 16;   // ints: 64 bytes, one cache line per flag
    private const int RowGranule = 16;   // slot edges on whole interleaved row groups

    private readonly int _slots;
    private readonly int[] _taken;       // per slot: the run that took it
    private readonly int[] _edges;       // per edge between slot s and s + 1: sides finished this run
    private WeightMatrix _gate, _up;
    private float* _gateOut, _upOut;
    private byte* _input, _output;
    private GgmlType _downType;
    private int _blockSize, _blockBytes, _run;

    public DecodeGateUpJob(int threads)
    {
        _slots = threads;
        _taken = new int[(_slots + 1) * FlagStride];
        _edges = new int[(_slots + 1) * FlagStride];
    }

    /// <summary>Whether the block can run so: gate and up read one quantized input, their rows match, and every slot
    /// is at least one activation block of the down projection long (so a block straddles at most one edge).</summary>
    public static bool Fits(Qwen2LayerWeights layer, int threads)
    {
        if (VecDot.ActivationType(layer.WGate.Type) != VecDot.ActivationType(layer.WUp.Type) || layer.WGate.Rows != layer.WUp.Rows
            || layer.WDown.Cols != layer.WGate.Rows)
            return false;
        int block = GgmlTypeInfo.Block(VecDot.ActivationType(layer.WDown.Type)).BlockSize;
        for (int s = 0; s < threads; s++)
        {
            var (a, b) = Slice(layer.WGate.Rows, s, threads, RowGranule);
            if (b - a < block) return false;
        }
        return true;
    }

    /// <param name="input">gate's and up's input, quantized for their type.</param>
    /// <param name="output">down's input: silu(gate) ⊙ up quantized for <paramref name="downType"/>; not the same
    /// memory as <paramref name="input"/> (a thread writes it while another still reads the input).</param>
    public void Set(in WeightMatrix gate, float* gateOut, in WeightMatrix up, float* upOut, byte* input, GgmlType downType, byte* output)
    {
        _gate = gate; _up = up; _gateOut = gateOut; _upOut = upOut; _input = input; _downType = downType; _output = output;
        (_blockSize, _blockBytes) = GgmlTypeInfo.Block(VecDot.ActivationType(downType));
        for (int e = 0; e < _slots; e++) _edges[(e + 1) * FlagStride] = 0;   // no thread is in the job between runs
        _run++;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        for (int step = 0; step < _slots; step++)
        {
            int s = DecodeAttentionJob.SlotOrder(threadIndex, _slots, step);
            if ((step == 0 || Volatile.Read(ref _taken[(s + 1) * FlagStride]) != _run)
                && Interlocked.Exchange(ref _taken[(s + 1) * FlagStride], _run) != _run)
                Slot(s);
        }
    }

    private void Slot(int slot)
    {
        int rows = _gate.Rows, block = _blockSize;
        var (a, b) = Slice(rows, slot, _slots, RowGranule);
        VecDot.MatMulRows(_gate.Type, _gate.Layout, _gate.Data, _gate.Cols, a, b, _input, 1, _gateOut, rows);
        VecDot.MatMulRows(_up.Type, _up.Layout, _up.Data, _up.Cols, a, b, _input, 1, _upOut, rows);
        int inner0 = (a + block - 1) / block * block, inner1 = b / block * block;
        if (inner0 < inner1) Finish(inner0, inner1);
        // a block cut by an edge is finished by the second of its two slots to get here
        if (a != inner0 && Interlocked.Increment(ref _edges[slot * FlagStride]) == 2) Finish(a / block * block, inner0);
        if (b != inner1 && Interlocked.Increment(ref _edges[(slot + 1) * FlagStride]) == 2) Finish(inner1, inner1 + block);
    }

    /// <summary>silu(gate) ⊙ up over the rows [start, end) (whole activation blocks), quantized into their blocks.</summary>
    private void Finish(int start, int end)
    {
        Qwen2Context.SwiGlu(new Span<float>(_gateOut + start, end - start), new Span<float>(_upOut + start, end - start));
        KernelTable.BestActivation(_downType)(_gateOut + start, _output + (long)start / _blockSize * _blockBytes, end - start);
    }
}

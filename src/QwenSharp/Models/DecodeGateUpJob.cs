using QwenSharp.Tensors;

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
/// Slots are taken as <see cref="DecodeSlotJob"/> says (own slot first, then the others' from the far end), so a late
/// thread's share is done by whoever is there.</summary>
internal sealed unsafe class DecodeGateUpJob : DecodeSlotJob
{
    private const int RowGranule = DecodeLayout.RowGranule;   // slot edges on whole interleaved row groups, as the load laid them out

    private readonly SlotBlocks _blocks;
    private WeightMatrix _gate, _up;
    private float* _gateOut, _upOut;
    private byte* _output;
    private GgmlType _downType;
    private int _blockSize;

    public DecodeGateUpJob(int threads) : base(threads) => _blocks = new SlotBlocks(threads);

    /// <summary>Whether the block can run so: gate and up read one quantized input, their rows match, and every slot
    /// is at least one activation block of the down projection long (so a block straddles at most one edge).</summary>
    public static bool Fits(Qwen2LayerWeights layer, int threads)
    {
        if (VecDot.ActivationType(layer.WGate.Type) != VecDot.ActivationType(layer.WUp.Type) || layer.WGate.Rows != layer.WUp.Rows
            || layer.WDown.Cols != layer.WGate.Rows)
            return false;
        int rows = layer.WGate.Rows, block = GgmlTypeInfo.Block(VecDot.ActivationType(layer.WDown.Type)).BlockSize;
        return SlotBlocks.EverySlotHoldsABlock(rows, threads, RowGranule, block);
    }

    /// <param name="inputs">gate's and up's input, quantized for their type: one row, or each thread's own.</param>
    /// <param name="output">down's input: silu(gate) ⊙ up quantized for <paramref name="downType"/>; not the same
    /// memory as the input (a thread writes it while another still reads the input).</param>
    public void Set(in WeightMatrix gate, float* gateOut, in WeightMatrix up, float* upOut, ThreadInputs inputs, GgmlType downType, byte* output)
    {
        _gate = gate; _up = up; _gateOut = gateOut; _upOut = upOut; _downType = downType; _output = output;
        _blockSize = GgmlTypeInfo.Block(VecDot.ActivationType(downType)).BlockSize;
        _blocks.Reset();
        BeginSlots(inputs);
    }

    protected override void RunSlot(int threadIndex, int slot, byte* input)
    {
        int rows = _gate.Rows, block = _blockSize;
        var (a, b) = Slice(rows, slot, Slots, RowGranule);
        _gate.MatMulRows(a, b, input, 1, _gateOut);
        _up.MatMulRows(a, b, input, 1, _upOut);
        Finish(_blocks.LeftCut(slot, a, block));
        Finish(SlotBlocks.Inner(a, b, block));
        Finish(_blocks.RightCut(slot, b, block));
    }

    /// <summary>silu(gate) ⊙ up over the rows [start, end) (whole activation blocks), quantized into their blocks.</summary>
    private void Finish((int Start, int End) blocks)
    {
        if (blocks.Start < blocks.End) SwiGluQuantizeJob.Range(_gateOut, _upOut, blocks.Start, blocks.End, _downType, _output);
    }
}

using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A decode step's whole attention block but the output projection, for one entry, split by KV heads:
/// thread t takes slot t (an equal run of KV heads), computes the q rows of the query heads that read them and their
/// k and v rows (Wq, Wk, Wv · the normed input), adds the biases, rotates, stores k and v into the cache and runs
/// those query heads' attention. The general path does the same in three steps (a QKV matmul split by rows, the
/// biases and RoPE on the calling thread, an attention job): this one has one barrier instead of two, does the
/// serial step in parallel, and each thread reads back only what it wrote itself, which matters when the two
/// threads' cores share no cache (on this project's VM, cross-core latency flips between about 40 and 200 ns with
/// where the host places the vCPUs). Every value is computed by the same kernels in the same order, so the outputs
/// are the same bits.
///
/// Slots are taken as <see cref="DecodeSlotJob"/> says (the own first, so a thread keeps writing and reading the
/// same heads' cache rows; then the others', so a late thread's share is done by whoever is there).
/// Used when the KV heads split evenly over the threads (<see cref="Fits"/>); otherwise a thread without a slot
/// would sit idle, and the general path splits rows instead.
///
/// Where each slot's heads hold whole activation blocks of Wo (<see cref="QuantizesWoInput"/>), the slots also
/// quantize their heads' outputs for Wo, so that the calling thread does not read the other threads' outputs
/// across the fabric to quantize the row alone (<see cref="SlotBlocks"/>; same kernels, same bits).</summary>
internal sealed unsafe class DecodeAttentionJob : DecodeSlotJob
{
    private readonly AttentionJob _scratch;
    private readonly SlotBlocks _blocks;
    private Qwen2Context _ctx = null!;
    private Qwen2LayerWeights _layer = null!;
    private int _layerIndex;
    private BatchEntry _entry;
    private byte* _woInput;
    private int _blockSize;

    /// <param name="scratch">The context's general attention job, whose per-thread scores buffers this one borrows.</param>
    public DecodeAttentionJob(int threads, AttentionJob scratch) : base(threads)
    {
        _scratch = scratch;
        _blocks = new SlotBlocks(threads);
    }

    /// <summary>Whether the block can run so: the KV heads split evenly over the threads, and q, k and v read one
    /// quantized input (the same activation type).</summary>
    public static bool Fits(Qwen2Config c, Qwen2LayerWeights layer, int threads) =>
        c.KvHeadCount % threads == 0
        && VecDot.ActivationType(layer.Wq.Type) == VecDot.ActivationType(layer.Wk.Type)
        && VecDot.ActivationType(layer.Wq.Type) == VecDot.ActivationType(layer.Wv.Type);

    /// <summary>The KV heads [start, end) of slot <paramref name="slot"/> of <paramref name="slots"/> (<see cref="Fits"/>:
    /// they split evenly); the load lays each thread's q, k and v rows out by the same split (<see cref="DecodeLayout"/>).</summary>
    internal static (int Start, int End) KvHeads(int kvHeads, int slots, int slot) =>
        (kvHeads / slots * slot, kvHeads / slots * (slot + 1));

    /// <summary>Whether the slots can also quantize the attention output for Wo (<see cref="Set"/>'s woInput): each
    /// slot's heads hold at least one of Wo's activation blocks.</summary>
    public static bool QuantizesWoInput(Qwen2Config c, Qwen2LayerWeights layer, int threads)
    {
        int width = c.HeadCount * c.HeadDim;
        return layer.Wo.Cols == width
            && SlotBlocks.EverySlotHoldsABlock(width, threads, width / threads, GgmlTypeInfo.Block(VecDot.ActivationType(layer.Wo.Type)).BlockSize);
    }

    /// <param name="inputs">q's, k's and v's input, quantized for their type: one row, or each thread's own.</param>
    /// <param name="woInput">Where each slot quantizes its heads' attention output for Wo (a block its edge cuts by
    /// the second slot there), or null: the caller quantizes the row. Not the inputs' memory: a slot writes it
    /// while another may still read its input.</param>
    public void Set(Qwen2Context ctx, Qwen2LayerWeights layer, int layerIndex, BatchEntry entry, ThreadInputs inputs, byte* woInput)
    {
        _ctx = ctx; _layer = layer; _layerIndex = layerIndex; _entry = entry; _woInput = woInput;
        if (woInput != null)
        {
            _blockSize = GgmlTypeInfo.Block(VecDot.ActivationType(layer.Wo.Type)).BlockSize;
            _blocks.Reset();
        }
        BeginSlots(inputs);
    }

    protected override void RunSlot(int threadIndex, int slot, byte* act)
    {
        var c = _ctx.Model.Config;
        int kvHeads = c.KvHeadCount, d = c.HeadDim, group = c.HeadsPerKvHead;
        var (kv0, kv1) = KvHeads(kvHeads, Slots, slot);
        var cache = _ctx.Cache;
        int sequence = _entry.Sequence, keyCount = _entry.Position + 1;

        var layer = _layer;
        MatVec(layer.Wq, kv0 * group * d, kv1 * group * d, act, _ctx.QueryRow(0));
        MatVec(layer.Wk, kv0 * d, kv1 * d, act, _ctx.KeyRow(0));
        MatVec(layer.Wv, kv0 * d, kv1 * d, act, _ctx.ValueRow(0));
        _ctx.FinishQkvHeads(layer, _layerIndex, _entry, 0, kv0, kv1);

        float scale = 1f / MathF.Sqrt(d);
        fixed (float* scores = _scratch.Scores(threadIndex))
            for (int g = kv0; g < kv1; g++)
            {
                byte* keys = cache.KeyHead(_layerIndex, sequence, g), values = cache.ValueHead(_layerIndex, sequence, g);
                // the next KV head's rows, prefetched while this head's last query head runs
                byte* nextKeys = g + 1 < kv1 ? cache.KeyHead(_layerIndex, sequence, g + 1) : null;
                byte* nextValues = g + 1 < kv1 ? cache.ValueHead(_layerIndex, sequence, g + 1) : null;
                bool finite = cache.RowsFinite(_layerIndex, sequence, g);
                for (int head = g * group; head < (g + 1) * group; head++)
                {
                    float* q = _ctx.QueryRow(0) + head * d, o = _ctx.AttentionRow(0) + head * d;
                    int next = head == (g + 1) * group - 1 && nextKeys != null ? keyCount : 0;
                    AttentionJob.AttendCached(cache.Type, d, q, keys, values, keyCount, scale, scores, o, nextKeys, nextValues, next, finite);
                }
            }
        if (_woInput == null) return;
        int start = kv0 * group * d, end = kv1 * group * d;
        QuantizeWoInput(_blocks.LeftCut(slot, start, _blockSize));
        QuantizeWoInput(SlotBlocks.Inner(start, end, _blockSize));
        QuantizeWoInput(_blocks.RightCut(slot, end, _blockSize));
    }

    private void QuantizeWoInput((int Start, int End) blocks)
    {
        if (blocks.Start < blocks.End)
            VecDot.QuantizeActivationBlocks(_layer.Wo.Type, _ctx.AttentionRow(0), blocks.Start, blocks.End, _woInput);
    }

    private static void MatVec(in WeightMatrix w, int rowStart, int rowEnd, byte* act, float* output) =>
        w.MatMulRows(rowStart, rowEnd, act, 1, output);
}

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
/// A thread takes its own slot first (the same every step and layer, so a thread keeps writing and reading the same
/// heads' cache rows), then the others' from the far end, so a late or descheduled thread's share is done by
/// whoever is there. A slot is taken by swapping the run's number into its flag, each flag on its own cache line.
/// Used when the KV heads split evenly over the threads (<see cref="Fits"/>); otherwise a thread without a slot
/// would sit idle, and the general path splits rows instead.</summary>
internal sealed unsafe class DecodeAttentionJob : ComputeJob
{
    private const int FlagStride = 16;   // ints: 64 bytes, one cache line per flag

    private readonly int _slots;
    private readonly int[] _taken;
    private readonly AttentionJob _scratch;
    private Qwen2Context _ctx = null!;
    private Qwen2LayerWeights _layer = null!;
    private int _layerIndex, _run;
    private BatchEntry _entry;
    private byte* _act;

    /// <param name="scratch">The context's general attention job, whose per-thread scores buffers this one borrows.</param>
    public DecodeAttentionJob(int threads, AttentionJob scratch)
    {
        _slots = threads;
        _taken = new int[(_slots + 1) * FlagStride];
        _scratch = scratch;
    }

    /// <summary>Whether the block can run so: the KV heads split evenly over the threads, and q, k and v read one
    /// quantized input (the same activation type).</summary>
    public static bool Fits(Qwen2Config c, Qwen2LayerWeights layer, int threads) =>
        c.KvHeadCount % threads == 0
        && VecDot.ActivationType(layer.Wq.Type) == VecDot.ActivationType(layer.Wk.Type)
        && VecDot.ActivationType(layer.Wq.Type) == VecDot.ActivationType(layer.Wv.Type);

    public void Set(Qwen2Context ctx, Qwen2LayerWeights layer, int layerIndex, BatchEntry entry, byte* act)
    {
        _ctx = ctx; _layer = layer; _layerIndex = layerIndex; _entry = entry; _act = act;
        _run++;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        for (int step = 0; step < _slots; step++)
        {
            int s = SlotOrder(threadIndex, _slots, step);
            if ((step == 0 || Volatile.Read(ref _taken[(s + 1) * FlagStride]) != _run)
                && Interlocked.Exchange(ref _taken[(s + 1) * FlagStride], _run) != _run)
                Slot(threadIndex, s);
        }
    }

    /// <summary>The slot thread <paramref name="threadIndex"/> tries at its <paramref name="step"/>-th attempt: its
    /// own first, then the others from the last down.</summary>
    internal static int SlotOrder(int threadIndex, int slots, int step)
    {
        if (step == 0) return threadIndex;
        int s = slots - step;   // slots - 1, slots - 2, ... 0, skipping the own one
        return s <= threadIndex ? s - 1 : s;
    }

    private void Slot(int threadIndex, int slot)
    {
        var c = _ctx.Model.Config;
        int kvHeads = c.KvHeadCount, d = c.HeadDim, group = c.HeadsPerKvHead;
        int kv0 = kvHeads / _slots * slot, kv1 = kv0 + kvHeads / _slots;
        var cache = _ctx.Cache;
        int sequence = _entry.Sequence, keyCount = _entry.Position + 1;

        var layer = _layer;
        MatVec(layer.Wq, kv0 * group * d, kv1 * group * d, _ctx.QueryRow(0));
        MatVec(layer.Wk, kv0 * d, kv1 * d, _ctx.KeyRow(0));
        MatVec(layer.Wv, kv0 * d, kv1 * d, _ctx.ValueRow(0));
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
    }

    private void MatVec(in WeightMatrix w, int rowStart, int rowEnd, float* output) =>
        VecDot.MatMulRows(w.Type, w.Layout, w.Data, w.Cols, rowStart, rowEnd, _act, 1, output, w.Rows);
}

using QwenSharp.Tensors;

namespace QwenSharp.Models;

// Row-parallel jobs that fuse the element-wise steps of a forward pass with the quantization that follows them, so
// each step is one pass over a row while it is in L1, and one barrier instead of two. For a handful of rows (a
// decode step) the context runs them inline on the calling thread, with no barrier at all.

/// <summary>xn = RmsNorm(x) ⊙ weight, then quantized to the dot type of the weights that read it.</summary>
internal sealed unsafe class NormQuantizeJob : ComputeJob
{
    private float* _x, _xn;
    private float[] _weight = [];
    private float _eps;
    private int _h, _rows;
    private GgmlType _weightType;
    private byte* _act;

    public void Set(float* x, float[] weight, float eps, int h, int rows, float* xn, GgmlType weightType, byte* act)
    {
        _x = x; _weight = weight; _eps = eps; _h = h; _rows = rows; _xn = xn; _weightType = weightType; _act = act;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int bytes = (int)VecDot.ActivationRowBytes(_weightType, _h), chunk = ChunkSize(_rows, threadCount, 4);
        while (Claim(_rows, chunk, out int start, out int end))
            for (int r = start; r < end; r++)
                Row(_x + (long)r * _h, _weight, _eps, _h, _xn + (long)r * _h, _weightType, _act + (long)r * bytes);
    }

    /// <summary>One row: xn = RmsNorm(x) ⊙ weight (h floats), then act = xn quantized for weightType.</summary>
    public static void Row(float* x, float[] weight, float eps, int h, float* xn, GgmlType weightType, byte* act)
    {
        var normed = new Span<float>(xn, h);
        Qwen2Context.RmsNormRow(new ReadOnlySpan<float>(x, h), weight, eps, normed);
        VecDot.QuantizeActivation(weightType, normed, new Span<byte>(act, (int)VecDot.ActivationRowBytes(weightType, h)));
    }
}

/// <summary>gate = silu(gate) ⊙ up per row, then quantized to the down projection's dot type.</summary>
internal sealed unsafe class SwiGluQuantizeJob : ComputeJob
{
    private float* _gate, _up;
    private int _f, _rows;
    private GgmlType _weightType;
    private byte* _act;

    public void Set(float* gate, float* up, int f, int rows, GgmlType weightType, byte* act)
    {
        _gate = gate; _up = up; _f = f; _rows = rows; _weightType = weightType; _act = act;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int bytes = (int)VecDot.ActivationRowBytes(_weightType, _f), chunk = ChunkSize(_rows, threadCount, 4);
        while (Claim(_rows, chunk, out int start, out int end))
            for (int r = start; r < end; r++)
                Range(_gate + (long)r * _f, _up + (long)r * _f, 0, _f, _weightType, _act + (long)r * bytes);
    }

    /// <summary>gate[i] = silu(gate[i]) · up[i] for i in [start, end) (whole activation blocks of weightType), and
    /// those blocks quantized into their place in the row at act.</summary>
    public static void Range(float* gate, float* up, int start, int end, GgmlType weightType, byte* act)
    {
        var g = new Span<float>(gate + start, end - start);
        Qwen2Context.SwiGlu(g, new Span<float>(up + start, end - start));
        VecDot.QuantizeActivationBlocks(weightType, gate, start, end, act);
    }
}

/// <summary>Per entry: q, k, v biases, RoPE on q and k, k and v into the cache (positions are marked written by the
/// caller afterwards, serially).</summary>
internal sealed class QkvFinishJob : ComputeJob
{
    private Qwen2Context _ctx = null!;
    private Qwen2LayerWeights _layer = null!;
    private int _layerIndex;
    private BatchEntry[] _entries = [];
    private int _count;

    public void Set(Qwen2Context ctx, Qwen2LayerWeights layer, int layerIndex, ReadOnlySpan<BatchEntry> batch)
    {
        _ctx = ctx; _layer = layer; _layerIndex = layerIndex;
        if (_entries.Length < batch.Length) _entries = new BatchEntry[ctx.MaxBatch];
        batch.CopyTo(_entries);
        _count = batch.Length;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int chunk = ChunkSize(_count, threadCount, 4);
        while (Claim(_count, chunk, out int start, out int end))
            for (int b = start; b < end; b++) _ctx.FinishQkvRow(_layer, _layerIndex, _entries[b], b);
    }
}

/// <summary>Up to three weight matrices that read the same quantized activations (Q/K/V, gate/up) as one job:
/// their rows are concatenated and split across threads, so they cost one barrier, not three.</summary>
internal sealed unsafe class MatMulGroupJob : ComputeJob
{
    private readonly WeightMatrix[] _w = new WeightMatrix[3];
    private readonly nint[] _out = new nint[3];
    private int _count, _totalRows, _batch;
    private byte* _act;

    public void Set(byte* act, int batch, in WeightMatrix a, float* outA, in WeightMatrix b, float* outB)
    {
        _act = act; _batch = batch; _count = 2;
        _w[0] = a; _out[0] = (nint)outA;
        _w[1] = b; _out[1] = (nint)outB;
        _totalRows = a.Rows + b.Rows;
    }

    public void Set(byte* act, int batch, in WeightMatrix a, float* outA, in WeightMatrix b, float* outB, in WeightMatrix c, float* outC)
    {
        Set(act, batch, a, outA, b, outB);
        _count = 3;
        _w[2] = c; _out[2] = (nint)outC;
        _totalRows += c.Rows;
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int chunk = ChunkSize(_totalRows, threadCount, ChunksPerThread(_batch), granule: 16);
        while (Claim(_totalRows, chunk, out int start, out int end))
        {
            int offset = 0;
            for (int i = 0; i < _count && start < end; i++)
            {
                ref readonly var w = ref _w[i];
                int from = Math.Max(start, offset) - offset, to = Math.Min(end, offset + w.Rows) - offset;
                if (from < to)
                    w.MatMulRows(from, to, _act, _batch, (float*)_out[i]);
                offset += w.Rows;
            }
        }
    }

    /// <summary>Row chunks per thread: two for a decode step's matvec, so that a late thread's second chunk can still
    /// be taken over; a batch's GEMM in two large ones too (each chunk re-reads the whole batch of activations).
    /// Several sequences decoded together use four: the small-batch kernels' per-call work (laying out the
    /// activations) is small (measured ≈ 5 % of a 176-row chunk's time at batch 8), so they keep more balancing.
    /// Decode used eight until 2026-11-27 (evening): each chunk starts its weight stream cold, its first lines not
    /// yet prefetched, and at decode speed a chunk of a small matrix lasts a few microseconds. On the AMD EPYC, tg64
    /// in one process, alternating rounds, two / eight chunks per thread: q4_0 1.01-1.10, q4_k_m 1.01-1.12, q8_0
    /// 0.99-1.06, q6_k 0.99-1.04, f16 1.01-1.03 over five or six runs (one chunk per thread measured about the same;
    /// on the Intel machine before, two had measured 0.972 and 1.008).</summary>
    public static int ChunksPerThread(int batch) => batch == 1 ? 2 : batch <= QwenSharp.Tensors.Kernels.SmallBatchKernels.MaxBatch ? 4 : 2;
}

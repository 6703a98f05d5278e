using System.Numerics.Tensors;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>Quantizes B activation rows to the dot type of a weight, rows split across threads.</summary>
internal sealed unsafe class QuantizeJob : ComputeJob
{
    private GgmlType _weightType;
    private float* _input;
    private int _n, _rows;
    private byte* _output;

    /// <summary>Rows land contiguously, each VecDot.ActivationRowBytes(weightType, n) bytes, as MatMulRows reads them.</summary>
    public void Set(GgmlType weightType, float* input, int n, int rows, byte* output)
    {
        _weightType = weightType;
        _input = input;
        _n = n;
        _rows = rows;
        _output = output;
    }

    public override void Execute(int threadIndex, int threadCount)
    {
        var (start, end) = Slice(_rows, threadIndex, threadCount);
        int bytes = (int)VecDot.ActivationRowBytes(_weightType, _n);
        for (int r = start; r < end; r++)
            VecDot.QuantizeActivation(_weightType, new ReadOnlySpan<float>(_input + (long)r * _n, _n), new Span<byte>(_output + (long)r * bytes, bytes));
    }
}

/// <summary>One weight matrix times B quantized activation rows; each thread takes a slice of the weight's rows.</summary>
internal sealed unsafe class MatMulJob : ComputeJob
{
    private WeightMatrix _w;
    private byte* _act;
    private int _batch;
    private float* _output;

    public void Set(in WeightMatrix w, byte* act, int batch, float* output)
    {
        _w = w;
        _act = act;
        _batch = batch;
        _output = output;
    }

    public override void Execute(int threadIndex, int threadCount)
    {
        var (start, end) = Slice(_w.Rows, threadIndex, threadCount, granule: 16);
        if (start >= end) return;
        VecDot.MatMulRows(_w.Type, _w.Data, _w.Cols, start, end, _act, _batch, _output, _w.Rows);
    }
}

/// <summary>Causal attention for every (entry, head) pair of a chunk, in fp32: scores = q·k/sqrt(d) over the entry's
/// cached positions 0..pos, softmax, weighted sum of values. Query head i reads KV head i / (heads per KV head).</summary>
internal sealed unsafe class AttentionJob : ComputeJob
{
    private readonly float[][] _scores;   // per thread [ContextLength]
    private readonly float[][] _rowBuffer; // per thread [HeadDim], an F16 cache row converted to fp32
    private Qwen2Context _ctx = null!;
    private int _layer;
    private BatchEntry[] _entries = [];
    private int _count;

    public AttentionJob(int threads, int contextLength, int headDim)
    {
        _scores = new float[threads][];
        _rowBuffer = new float[threads][];
        for (int t = 0; t < threads; t++)
        {
            _scores[t] = new float[contextLength];
            _rowBuffer[t] = new float[headDim];
        }
    }

    public void Set(Qwen2Context ctx, int layer, ReadOnlySpan<BatchEntry> batch)
    {
        _ctx = ctx;
        _layer = layer;
        if (_entries.Length < batch.Length) _entries = new BatchEntry[ctx.MaxBatch];
        batch.CopyTo(_entries);
        _count = batch.Length;
    }

    public override void Execute(int threadIndex, int threadCount)
    {
        var c = _ctx.Model.Config;
        int heads = c.HeadCount, d = c.HeadDim;
        var (start, end) = Slice(_count * heads, threadIndex, threadCount);
        float scale = 1f / MathF.Sqrt(d);
        var scores = _scores[threadIndex];
        var rowBuffer = _rowBuffer[threadIndex];
        var cache = _ctx.Cache;
        bool f16 = cache.Type == KvCacheType.F16;
        for (int item = start; item < end; item++)
        {
            int b = item / heads, head = item % heads, kvHead = head / c.HeadsPerKvHead;
            var e = _entries[b];
            var q = new ReadOnlySpan<float>(_ctx.QueryRow(b) + head * d, d);
            int positions = e.Position + 1;
            long kvOffset = (long)kvHead * d;
            for (int t = 0; t < positions; t++)
            {
                byte* keyRow = cache.KeyRow(_layer, e.Sequence, t);
                scores[t] = scale * TensorPrimitives.Dot(q, HeadSlice(keyRow, kvOffset, d, f16, rowBuffer));
            }
            var s = scores.AsSpan(0, positions);
            float max = TensorPrimitives.Max(s);
            TensorPrimitives.Subtract(s, max, s);
            TensorPrimitives.Exp(s, s);
            float inv = 1f / TensorPrimitives.Sum(s);
            var output = new Span<float>(_ctx.AttentionRow(b) + head * d, d);
            output.Clear();
            for (int t = 0; t < positions; t++)
            {
                byte* valueRow = cache.ValueRow(_layer, e.Sequence, t);
                TensorPrimitives.MultiplyAdd(HeadSlice(valueRow, kvOffset, d, f16, rowBuffer), s[t] * inv, output, output);
            }
        }
    }

    private static ReadOnlySpan<float> HeadSlice(byte* row, long offset, int d, bool f16, float[] buffer)
    {
        if (!f16) return new ReadOnlySpan<float>((float*)row + offset, d);
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)row + offset, d), buffer);
        return buffer;
    }
}

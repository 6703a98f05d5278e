using System.Numerics.Tensors;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>Quantizes B activation rows to the dot type of a weight, rows claimed by threads in chunks.</summary>
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

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int bytes = (int)VecDot.ActivationRowBytes(_weightType, _n), chunk = ChunkSize(_rows, threadCount, 4);
        while (Claim(_rows, chunk, out int start, out int end))
            for (int r = start; r < end; r++)
                VecDot.QuantizeActivation(_weightType, new ReadOnlySpan<float>(_input + (long)r * _n, _n), new Span<byte>(_output + (long)r * bytes, bytes));
    }
}

/// <summary>One weight matrix times B quantized activation rows; threads claim chunks of the weight's rows.</summary>
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

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        int chunk = ChunkSize(_w.Rows, threadCount, MatMulGroupJob.ChunksPerThread(_batch), granule: 16);
        while (Claim(_w.Rows, chunk, out int start, out int end))
            VecDot.MatMulRows(_w.Type, _w.Layout, _w.Data, _w.Cols, start, end, _act, _batch, _output, _w.Rows);
    }
}

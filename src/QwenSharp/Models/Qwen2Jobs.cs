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

/// <summary>One weight matrix times B quantized activation rows. A batch's threads claim chunks of the weight's rows;
/// a single entry's (a decode step's matvec) take slices, each thread its own first (the same rows every step, laid
/// end to end with its other slices when the load did so: <see cref="DecodeLayout"/>), then the others' from the far
/// end (<see cref="DecodeSlotJob.SlotOrder"/>), so a late thread's slice is done by whoever is there.</summary>
internal sealed unsafe class MatMulJob(int threads) : ComputeJob
{
    private readonly SlotClaims _slices = new(threads);
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
        _slices.Begin();
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        if (_batch == 1)
        {
            for (int step = 0; step < threadCount; step++)
            {
                int s = DecodeSlotJob.SlotOrder(threadIndex, threadCount, step);
                if (!_slices.TryTake(s, own: step == 0)) continue;
                var (start, end) = Slice(_w.Rows, s, threadCount, DecodeLayout.RowGranule);
                _w.MatMulRows(start, end, _act, 1, _output);
            }
            return;
        }
        int chunk = ChunkSize(_w.Rows, threadCount, MatMulGroupJob.ChunksPerThread(_batch), granule: 16);
        while (Claim(_w.Rows, chunk, out int start, out int end))
            _w.MatMulRows(start, end, _act, _batch, _output);
    }
}

using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>Several independent matmuls in one pool run: segment s multiplies weight W_s by its own B_s activation
/// rows. Threads take slices of the concatenated output rows, weighted by cost (columns × (batch + 2)), so a run that
/// mixes a one-token expert, a forty-token expert and the shared expert still splits evenly. This is how an MoE layer
/// touches only the experts it chose: there is one segment per active expert and projection.</summary>
internal sealed unsafe class SegmentedMatMulJob : ComputeJob
{
    private const int Granule = 16;
    private readonly WeightMatrix[] _weights;
    private readonly long[] _act;       // byte* of each segment's activation rows
    private readonly long[] _output;    // float* of each segment's output rows
    private readonly int[] _batch;
    private readonly int[] _rowStart;   // [segments + 1] first global row of each segment
    private readonly long[] _costStart; // [segments + 1]
    private readonly long[] _costPerRow;
    private int _count;

    public SegmentedMatMulJob(int maxSegments)
    {
        _weights = new WeightMatrix[maxSegments];
        _act = new long[maxSegments];
        _output = new long[maxSegments];
        _batch = new int[maxSegments];
        _costPerRow = new long[maxSegments];
        _rowStart = new int[maxSegments + 1];
        _costStart = new long[maxSegments + 1];
    }

    public void Clear() => _count = 0;

    /// <summary>output[b·W.Rows + r] = W row r · activation row b, for b in [0, batch). Empty batches are skipped.</summary>
    public void Add(in WeightMatrix w, byte* activations, int batch, float* output)
    {
        if (batch == 0) return;
        int s = _count++;
        _weights[s] = w;
        _act[s] = (long)activations;
        _output[s] = (long)output;
        _batch[s] = batch;
        _costPerRow[s] = (long)w.Cols * (batch + 2);
        _rowStart[s + 1] = _rowStart[s] + w.Rows;
        _costStart[s + 1] = _costStart[s] + _costPerRow[s] * w.Rows;
    }

    public override void Execute(int threadIndex, int threadCount)
    {
        if (_count == 0) return;
        long total = _costStart[_count];
        int first = RowAt(total * threadIndex / threadCount), last = RowAt(total * (threadIndex + 1) / threadCount);
        for (int s = 0; s < _count && first < last; s++)
        {
            int lo = Math.Max(first, _rowStart[s]), hi = Math.Min(last, _rowStart[s + 1]);
            if (lo >= hi) continue;
            ref readonly var w = ref _weights[s];
            VecDot.MatMulRows(w.Type, w.Layout, w.Data, w.Cols, lo - _rowStart[s], hi - _rowStart[s], (byte*)_act[s], _batch[s], (float*)_output[s], w.Rows);
        }
    }

    /// <summary>The global row where cost <paramref name="point"/> falls, rounded down to a granule of its segment
    /// (monotonic in the point, so consecutive threads' ranges tile the rows exactly).</summary>
    private int RowAt(long point)
    {
        if (point >= _costStart[_count]) return _rowStart[_count];
        int s = 0;
        while (_costStart[s + 1] <= point) s++;
        int row = (int)((point - _costStart[s]) / _costPerRow[s]);
        return _rowStart[s] + row / Granule * Granule;
    }
}

/// <summary>Quantizes rows of fp32 activations to a weight type's dot type, rows split across threads. Up to four
/// (input, weight type, output) sets per run, all over the same rows.</summary>
internal sealed unsafe class MultiQuantizeJob : ComputeJob
{
    private readonly GgmlType[] _types = new GgmlType[8];
    private readonly long[] _outputs = new long[8];
    private int _count, _rows, _n;
    private float* _input;

    public void Set(float* input, int n, int rows)
    {
        _input = input;
        _n = n;
        _rows = rows;
        _count = 0;
    }

    public void Add(GgmlType weightType, byte* output)
    {
        _types[_count] = weightType;
        _outputs[_count++] = (long)output;
    }

    public override void Execute(int threadIndex, int threadCount)
    {
        var (start, end) = Slice(_rows, threadIndex, threadCount);
        for (int i = 0; i < _count; i++)
        {
            int bytes = (int)VecDot.ActivationRowBytes(_types[i], _n);
            for (int r = start; r < end; r++)
                VecDot.QuantizeActivation(_types[i], new ReadOnlySpan<float>(_input + (long)r * _n, _n), new Span<byte>((byte*)_outputs[i] + (long)r * bytes, bytes));
        }
    }
}

/// <summary>gate = silu(gate) ⊙ up for rows of two blocks (the chosen experts' rows, then the shared expert's), each
/// row then quantized for its down projection, rows split across threads.</summary>
internal sealed unsafe class MoeSwiGluQuantizeJob : ComputeJob
{
    private readonly Part[] _parts = new Part[2];

    private struct Part
    {
        public float* Gate, Up;
        public byte* Output;
        public int Rows, Width;
        public GgmlType DownType;
    }

    public void Set(int part, float* gate, float* up, int rows, int width, GgmlType downType, byte* output) =>
        _parts[part] = new Part { Gate = gate, Up = up, Rows = rows, Width = width, DownType = downType, Output = output };

    public override void Execute(int threadIndex, int threadCount)
    {
        int total = _parts[0].Rows + _parts[1].Rows;
        var (start, end) = Slice(total, threadIndex, threadCount);
        for (int r = start; r < end; r++)
        {
            ref readonly var p = ref _parts[r < _parts[0].Rows ? 0 : 1];
            int row = r < _parts[0].Rows ? r : r - _parts[0].Rows;
            var gate = new Span<float>(p.Gate + (long)row * p.Width, p.Width);
            Qwen2Context.SwiGlu(gate, new Span<float>(p.Up + (long)row * p.Width, p.Width));
            int bytes = (int)VecDot.ActivationRowBytes(p.DownType, p.Width);
            VecDot.QuantizeActivation(p.DownType, gate, new Span<byte>(p.Output + (long)row * bytes, bytes));
        }
    }
}

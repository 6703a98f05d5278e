using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A decode step's matmul input for a fused job (<see cref="DecodeAttentionJob"/>, <see cref="DecodeGateUpJob"/>):
/// each pool thread's own copy, normed and quantized by that thread at the start of its part (<see cref="Prepare"/>),
/// with the rows of <see cref="NormQuantizeJob"/>. The RMSNorm and quantization, a serial step the other threads
/// used to wait through, so run on every thread at once, and each thread reads its own copy instead of the calling
/// thread's across the fabric. Same function, same bits: a slot taken over from another thread gives the same results
/// from the taker's copy (the tests hold these jobs to the general path, where the calling thread norms).</summary>
internal sealed unsafe class ThreadInputs
{
    private readonly float[] _buffer;   // pinned: per thread, h floats of normed row, then the quantized row
    private readonly float* _base;
    private readonly int _h, _stride;   // floats per thread
    private float* _x;
    private float[] _weight = [];
    private float _eps;
    private GgmlType _type;

    public ThreadInputs(int threads, int h)
    {
        _h = h;
        _stride = 2 * h + 64;           // the row, then its quantized form (F32, the widest, h floats), 64 floats slack
        _buffer = GC.AllocateArray<float>(checked(threads * _stride), pinned: true);
        fixed (float* p = _buffer) _base = p;
    }

    /// <summary>Before a run: each thread will norm x (RMSNorm with <paramref name="weight"/>) and quantize it for
    /// <paramref name="weightType"/> itself.</summary>
    public void Set(float* x, float[] weight, float eps, GgmlType weightType)
    {
        _x = x; _weight = weight; _eps = eps; _type = weightType;
    }

    /// <summary>The input row thread <paramref name="threadIndex"/> reads this run.</summary>
    public byte* Prepare(int threadIndex)
    {
        float* xn = _base + (long)threadIndex * _stride;
        byte* act = (byte*)(xn + _h);
        NormQuantizeJob.Row(_x, _weight, _eps, _h, xn, _type, act);
        return act;
    }
}

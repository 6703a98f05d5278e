using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A decode step's matmul input for a fused job (<see cref="DecodeAttentionJob"/>, <see cref="DecodeGateUpJob"/>):
/// either one row the calling thread normed and quantized before the run (shared), or each pool thread's own copy,
/// normed and quantized by that thread at the start of its part (<see cref="Prepare"/>). The second lets the RMSNorm
/// and quantization, a serial step the other threads used to wait through, run on every thread at once, and each
/// thread then reads its own copy instead of the calling thread's across the fabric. Same function, same bits: a slot
/// taken over from another thread gives the same results from the taker's copy.</summary>
internal sealed unsafe class ThreadInputs
{
    private readonly float[] _buffer;   // pinned: per thread, h floats of normed row, then the quantized row
    private readonly float* _base;
    private readonly int _h, _stride;   // floats per thread
    private float* _x;
    private float[] _weight = [];
    private float _eps;
    private GgmlType _type;
    private byte* _shared;

    public ThreadInputs(int threads, int h)
    {
        _h = h;
        _stride = 2 * h + 64;           // the row, then its quantized form (F32, the widest, h floats), 64 floats slack
        _buffer = GC.AllocateArray<float>(checked(threads * _stride), pinned: true);
        fixed (float* p = _buffer) _base = p;
    }

    /// <summary>Every thread reads <paramref name="act"/>, already normed and quantized.</summary>
    public void SetShared(byte* act) => _shared = act;

    /// <summary>Each thread norms x (RMSNorm with <paramref name="weight"/>) and quantizes it for
    /// <paramref name="weightType"/> itself.</summary>
    public void SetPerThread(float* x, float[] weight, float eps, GgmlType weightType)
    {
        _shared = null;
        _x = x; _weight = weight; _eps = eps; _type = weightType;
    }

    /// <summary>The input row thread <paramref name="threadIndex"/> reads this run.</summary>
    public byte* Prepare(int threadIndex)
    {
        if (_shared != null) return _shared;
        float* xn = _base + (long)threadIndex * _stride;
        byte* act = (byte*)(xn + _h);
        var normed = new Span<float>(xn, _h);
        Qwen2Context.RmsNormRow(new ReadOnlySpan<float>(_x, _h), _weight, _eps, normed);
        VecDot.QuantizeActivation(_type, normed, new Span<byte>(act, (int)VecDot.ActivationRowBytes(_type, _h)));
        return act;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Attention;

/// <summary>Whether a run of fp16 cache elements are all finite (exponent bits not all ones), and the conversion
/// such halves allow: their bits moved into an fp32 (sign kept, exponent and mantissa shifted into place, exponent
/// field unchanged) and multiplied by 2^112, which rebiases normal halves and, the fp32 being subnormal there,
/// renormalises subnormal ones and keeps zeros: exact for every finite half in 4 vector operations per 16
/// (<see cref="IRowLanes{TSelf}.LoadHalfFinite"/>), where the exact conversion for all inputs takes 14. Decode
/// attention converts every key and value it reads, so one check per call (3 operations per 32 halves) pays for
/// itself; a cache with an infinity or NaN (hostile weights) goes the general way.</summary>
internal static unsafe class HalfRows
{
    private const ushort ExponentMask = 0x7C00;

    public static bool AllFinite(ushort* p, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && count >= 32)
        {
            var acc = Vector512<ushort>.Zero;
            for (; i + 32 <= count; i += 32) acc = Vector512.Max(acc, Vector512.Load(p + i) & Vector512.Create(ExponentMask));
            if (Vector512.EqualsAny(acc, Vector512.Create(ExponentMask))) return false;
        }
        if (Vector256.IsHardwareAccelerated && count - i >= 16)
        {
            var acc = Vector256<ushort>.Zero;
            for (; i + 16 <= count; i += 16) acc = Vector256.Max(acc, Vector256.Load(p + i) & Vector256.Create(ExponentMask));
            if (Vector256.EqualsAny(acc, Vector256.Create(ExponentMask))) return false;
        }
        if (Vector128.IsHardwareAccelerated && count - i >= 8)
        {
            var acc = Vector128<ushort>.Zero;
            for (; i + 8 <= count; i += 8) acc = Vector128.Max(acc, Vector128.Load(p + i) & Vector128.Create(ExponentMask));
            if (Vector128.EqualsAny(acc, Vector128.Create(ExponentMask))) return false;
        }
        for (; i < count; i++)
            if ((p[i] & ExponentMask) == ExponentMask) return false;
        return true;
    }

    /// <summary>fp32 values of finite halves given sign-extended to 32 bits: h·2^-112
    /// (<see cref="Fp16.SignExtendedToScaledDown(Vector512{int})"/>, as the F16 weight kernels read them) times 2^112,
    /// exact (a power of two, and the result is a normal fp32 or zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FiniteToSingle(Vector512<int> signExtended) =>
        Fp16.SignExtendedToScaledDown(signExtended) * Vector512.Create(Fp16.ScaleUp);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FiniteToSingle(Vector256<int> signExtended) =>
        Fp16.SignExtendedToScaledDown(signExtended) * Vector256.Create(Fp16.ScaleUp);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> FiniteToSingle(Vector128<int> signExtended) =>
        Fp16.SignExtendedToScaledDown(signExtended) * Vector128.Create(Fp16.ScaleUp);
}

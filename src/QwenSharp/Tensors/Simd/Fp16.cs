using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>IEEE binary16 &lt;-&gt; binary32 by bit manipulation. .NET 10 exposes no F16C / AVX512-FP16 conversion
/// intrinsics, and the library's Half conversion is a software routine too slow for per-block scales, so these are
/// exact integer recipes: half to float is exact for every input; float to half rounds to nearest even like F16C
/// (vcvtps2ph with imm 0), which is what llama.cpp uses for fp16 scales and fp16 activations.</summary>
internal static unsafe class Fp16
{
    private const uint RebiasHalfToSingle = (127 - 15) << 23;   // 0x38000000

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort half)
    {
        uint magnitude = half & 0x7FFFu;
        uint sign = (uint)(half & 0x8000) << 16;
        // Normal halves (exponent 1..30) are the hot case: shift into place and rebias the exponent.
        if (magnitude - 0x0400u < 0x7800u)
            return BitConverter.UInt32BitsToSingle(((magnitude << 13) + RebiasHalfToSingle) | sign);
        return RareToSingle(magnitude, sign);
    }

    private static float RareToSingle(uint magnitude, uint sign)
    {
        uint bits = magnitude < 0x0400u
            ? BitConverter.SingleToUInt32Bits(magnitude * (1f / 16777216f))   // zero / subnormal: m * 2^-24, exact
            : 0x7F80_0000u | (magnitude << 13);                                // infinity / NaN (payload kept)
        return BitConverter.UInt32BitsToSingle(bits | sign);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(byte* bytes) => ToSingle(Unsafe.ReadUnaligned<ushort>(bytes));

    /// <summary><see cref="ToSingle(ushort)"/> for finite halves (the low 16 bits of <paramref name="half"/>) with no
    /// branch and no fp32 subnormal anywhere: normal halves by the rebias, zero and subnormal ones as m·2^-24 from an
    /// exact int conversion, picked by a select. For kernels that convert one scale per block where blocks with
    /// subnormal scales are common (Q6_K's d with weights of std 0.02 is ~1e-5, below fp16's 6.1e-5), so that the
    /// branch in ToSingle mispredicts and the w·2^-112 trick would feed fp32 subnormals to a multiply (a microcode
    /// assist on Intel cores). Infinities and NaNs come out finite: callers must catch them separately.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingleFinite(uint half)
    {
        uint magnitude = half & 0x7FFFu;
        uint sign = (half & 0x8000u) << 16;
        uint normal = (magnitude << 13) + RebiasHalfToSingle;
        uint small = BitConverter.SingleToUInt32Bits((int)magnitude * (1f / 16777216f));
        return BitConverter.UInt32BitsToSingle((magnitude < 0x0400u ? small : normal) | sign);
    }

    /// <summary>2^112: the factor a kernel folds into its activation scales to cancel <see cref="ToSingleScaledDown"/>'s
    /// 2^-112 (exact: an fp16 value times 2^112 stays below 2^128).</summary>
    public const float ScaleUp = 5.192296858534828E+33f;

    /// <summary>The fp16 in the low 16 bits of each lane as h·2^-112, in three integer operations: shifted to the top,
    /// an arithmetic shift by 3 puts exponent and mantissa where an fp32's go, and the AND clears the sign copies.
    /// Exact for every finite half (times <see cref="ScaleUp"/> it is h again); a half subnormal becomes an fp32
    /// subnormal, and infinities and NaNs come out finite, so callers track |h| to catch those.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingleScaledDown(Vector256<int> lanes) =>
        (((lanes << 16) >> 3) & Vector256.Create(unchecked((int)0x8FFF_E000))).AsSingle();

    /// <summary>Halves sign-extended to 32 bits (vpmovsxwd) as h·2^-112: shifted left by 13, the sign copies in bits
    /// 28..30 cleared; the same exactness as <see cref="ToSingleScaledDown"/> (finite halves exact, subnormals become
    /// fp32 subnormals, infinities and NaNs finite).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SignExtendedToScaledDown(Vector512<int> h) => ((h << 13) & Vector512.Create(KeepSignAndValue)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SignExtendedToScaledDown(Vector256<int> h) => ((h << 13) & Vector256.Create(KeepSignAndValue)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SignExtendedToScaledDown(Vector128<int> h) => ((h << 13) & Vector128.Create(KeepSignAndValue)).AsSingle();

    private const int KeepSignAndValue = unchecked((int)0x8FFF_FFFF);

    /// <summary>Round to nearest even; overflow goes to infinity, NaN stays a quiet NaN.</summary>
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        uint sign = (u >> 16) & 0x8000u;
        uint a = u & 0x7FFF_FFFFu;
        uint h;
        if (a >= 0x4780_0000u)            // |x| >= 65536 (smaller values that round up to 65536 come out of the normal path as 0x7C00)
            h = a > 0x7F80_0000u ? 0x7E00u | ((a >> 13) & 0x3FFu) : 0x7C00u;
        else if (a < 0x3880_0000u)        // below 2^-14: half subnormal; fp32 addition of 0.5 rounds at the 2^-24 quantum
            h = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(a) + 0.5f) - 0x3F00_0000u;
        else                              // rebias by -112 and round the 13 dropped bits half-to-even
            h = (a + 0xC800_0FFFu + ((a >> 13) & 1u)) >> 13;
        return (ushort)(h | sign);
    }

    // ---- vectors: half bits zero-extended in 32-bit lanes <-> floats ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> half)
    {
        var magnitude = half & Vector512.Create(0x7FFFu);
        var sign = (half ^ magnitude) << 16;
        var shifted = magnitude << 13;
        var normal = shifted + Vector512.Create(RebiasHalfToSingle);
        var subnormal = (Vector512.ConvertToSingle(magnitude.AsInt32()) * Vector512.Create(1f / 16777216f)).AsUInt32();
        var bits = Vector512.ConditionalSelect(Vector512.LessThan(magnitude, Vector512.Create(0x0400u)), subnormal, normal);
        bits = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x7C00u)), shifted | Vector512.Create(0x7F80_0000u), bits);
        return (bits | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> half)
    {
        var magnitude = (half & Vector256.Create(0x7FFFu)).AsInt32();   // below 2^15: signed compares are exact and cheap
        var sign = (half.AsInt32() ^ magnitude) << 16;
        var shifted = magnitude << 13;
        var normal = shifted + Vector256.Create((int)RebiasHalfToSingle);
        var subnormal = (Vector256.ConvertToSingle(magnitude) * Vector256.Create(1f / 16777216f)).AsInt32();
        var bits = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(0x0400)), subnormal, normal);
        bits = Vector256.ConditionalSelect(Vector256.GreaterThan(magnitude, Vector256.Create(0x7BFF)), shifted | Vector256.Create(0x7F80_0000), bits);
        return (bits | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> half)
    {
        var magnitude = (half & Vector128.Create(0x7FFFu)).AsInt32();
        var sign = (half.AsInt32() ^ magnitude) << 16;
        var shifted = magnitude << 13;
        var normal = shifted + Vector128.Create((int)RebiasHalfToSingle);
        var subnormal = (Vector128.ConvertToSingle(magnitude) * Vector128.Create(1f / 16777216f)).AsInt32();
        var bits = Vector128.ConditionalSelect(Vector128.LessThan(magnitude, Vector128.Create(0x0400)), subnormal, normal);
        bits = Vector128.ConditionalSelect(Vector128.GreaterThan(magnitude, Vector128.Create(0x7BFF)), shifted | Vector128.Create(0x7F80_0000), bits);
        return (bits | sign).AsSingle();
    }

    /// <summary>16 halves at p to floats (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => ToSingle(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)p)));

    /// <summary>8 halves at p to floats (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => ToSingle(Avx2.ConvertToVector256Int32((ushort*)p).AsUInt32());

    /// <summary>8 halves at p to two Vector128 of floats (portable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<float> Lower, Vector128<float> Upper) Load8Portable(byte* p)
    {
        var h = Vector128.Load((ushort*)p);
        return (ToSingle(Vector128.WidenLower(h)), ToSingle(Vector128.WidenUpper(h)));
    }

    /// <summary>dst[i] = half bits of src[i], rounded to nearest even (what (Half)x gives, NaNs quiet with the top
    /// payload bits kept): 32, 16, 8 at a time, the rest one by one. The decode step's keys and values go into the F16
    /// cache through this; TensorPrimitives.ConvertToHalf took about 20 ns per 64-float head (.NET 10, no F16C).</summary>
    public static void FromSingle(float* src, ushort* dst, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 32 <= count; i += 32)
                Vector512.Narrow(FromSingle(Vector512.Load(src + i)).AsUInt32(), FromSingle(Vector512.Load(src + i + 16)).AsUInt32()).Store(dst + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= count; i += 16)
                Vector256.Narrow(FromSingle(Vector256.Load(src + i)).AsUInt32(), FromSingle(Vector256.Load(src + i + 8)).AsUInt32()).Store(dst + i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 8 <= count; i += 8)
                Vector128.Narrow(FromSingle(Vector128.Load(src + i)).AsUInt32(), FromSingle(Vector128.Load(src + i + 4)).AsUInt32()).Store(dst + i);
        for (; i < count; i++) dst[i] = FromSingle(src[i]);
    }

    // float -> half bits (in 32-bit lanes), round to nearest even; same case split as the scalar FromSingle.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> FromSingle(Vector512<float> value)
    {
        var u = value.AsInt32();
        var sign = (u >>> 16) & Vector512.Create(0x8000);
        var a = u & Vector512.Create(0x7FFF_FFFF);
        var normal = (a + Vector512.Create(unchecked((int)0xC800_0FFFu)) + ((a >>> 13) & Vector512<int>.One)) >>> 13;
        var subnormal = (a.AsSingle() + Vector512.Create(0.5f)).AsInt32() - Vector512.Create(0x3F00_0000);
        var huge = Vector512.ConditionalSelect(Vector512.GreaterThan(a, Vector512.Create(0x7F80_0000)),
            Vector512.Create(0x7E00) | ((a >>> 13) & Vector512.Create(0x3FF)), Vector512.Create(0x7C00));
        var h = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(0x3880_0000)), subnormal, normal);
        h = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(0x4780_0000)), huge, h);
        return h | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> FromSingle(Vector256<float> value)
    {
        var u = value.AsInt32();
        var sign = (u >>> 16) & Vector256.Create(0x8000);
        var a = u & Vector256.Create(0x7FFF_FFFF);
        var normal = (a + Vector256.Create(unchecked((int)0xC800_0FFFu)) + ((a >>> 13) & Vector256<int>.One)) >>> 13;
        var subnormal = (a.AsSingle() + Vector256.Create(0.5f)).AsInt32() - Vector256.Create(0x3F00_0000);
        var huge = Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256.Create(0x7F80_0000)),
            Vector256.Create(0x7E00) | ((a >>> 13) & Vector256.Create(0x3FF)), Vector256.Create(0x7C00));
        var h = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(0x3880_0000)), subnormal, normal);
        h = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(0x4780_0000)), huge, h);
        return h | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> FromSingle(Vector128<float> value)
    {
        var u = value.AsInt32();
        var sign = (u >>> 16) & Vector128.Create(0x8000);
        var a = u & Vector128.Create(0x7FFF_FFFF);
        var normal = (a + Vector128.Create(unchecked((int)0xC800_0FFFu)) + ((a >>> 13) & Vector128<int>.One)) >>> 13;
        var subnormal = (a.AsSingle() + Vector128.Create(0.5f)).AsInt32() - Vector128.Create(0x3F00_0000);
        var huge = Vector128.ConditionalSelect(Vector128.GreaterThan(a, Vector128.Create(0x7F80_0000)),
            Vector128.Create(0x7E00) | ((a >>> 13) & Vector128.Create(0x3FF)), Vector128.Create(0x7C00));
        var h = Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(0x3880_0000)), subnormal, normal);
        h = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(a, Vector128.Create(0x4780_0000)), huge, h);
        return h | sign;
    }
}

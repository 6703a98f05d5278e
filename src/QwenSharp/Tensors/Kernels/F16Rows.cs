using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for F16 weights on the Vector512 and Vector256 rungs, one row after another.
/// The exact fp16 conversion (.NET 10 has no vcvtph2ps) costs about ten instructions per sixteen weights; this kernel
/// needs three: sign-extend the halves to int32 (vpmovsxwd), shift left by 13 and clear bits 28..30. That leaves the
/// sign in bit 31 and the half's exponent and mantissa in an fp32's, i.e. exactly w·2^-112 for every finite half,
/// subnormals included (a half subnormal m·2^-24 lands on the fp32 subnormal m·2^-136). The activation row is
/// converted once per call and multiplied by 2^112 (exact: |a| ≤ 65504 &lt; 2^16, so a·2^112 stays below 2^128), and
/// each fused multiply-add then sees the exact product w·a, as <see cref="F16Kernels.Dot512{TActivation}"/> does:
/// same two accumulators over the same elements, same 16-element step, final reduction and scalar tail, so every
/// output is bit-identical to the single-row dot. Halves with an all-ones exponent (infinity, NaN) would come out
/// finite, so each row keeps the largest |half| it saw (one shift and one unsigned max per 32 weights) and a row
/// that met one is recomputed with the single-row dot.
///
/// One row at a time, not four: a decode reads every matrix from DRAM, and on the AMD EPYC (Zen 5) of 2026-11-27 one
/// stream per thread read faster than four interleaved ones, though four rows per pass run 1.7× faster from cache
/// (2816 × 1024, one thread: 44.8 against 26.3 GB/s). The f16 model's tg64, one process, alternating rounds, one row
/// / four rows: 1.17-1.33 while the memory bus was busy and 1.03-1.09 while it was free; bf16 (`BF16Kernels.MatVec512`) 1.18-1.29.
/// The four-row kernel it replaces had been measured on the Intel Xeon of the sessions before.</summary>
internal static unsafe class F16Rows
{
    /// <summary>|half| &lt;&lt; 1 at or above this is an all-ones exponent (infinity or NaN).</summary>
    private const ushort SpecialShifted = 0xF800;

    /// <summary>Whether a 32-element chunk holding a subnormal half takes the exact path: where an FMA with a subnormal
    /// input is slow (<see cref="SubnormalFma"/>). Both ways give the same bits; a type argument, so that each kernel
    /// is compiled without the check it does not make.</summary>
    internal interface ISubnormalPolicy { static abstract bool Avoid { get; } }

    internal struct AvoidSubnormals : ISubnormalPolicy { public static bool Avoid => true; }

    internal struct AllowSubnormals : ISubnormalPolicy { public static bool Avoid => false; }

    /// <summary>Tests: run the kernels with (true) or without (false) the check, whatever the CPU; null: as measured.
    /// Process-wide, not [ThreadStatic] (a thread's first read of a thread-static allocates, and a pool thread's first
    /// matvec must not); only `DecodeKernelEdgeTests` sets it, one test at a time, and both ways give the same bits, so
    /// other tests running meanwhile are unaffected.</summary>
    internal static bool? AvoidSubnormalsOverride;

    private static bool Avoid => AvoidSubnormalsOverride ?? SubnormalFma.IsSlow;

    /// <summary>2^-112: takes a scaled activation back to its exact value (a normal fp32 or zero).</summary>
    private const float ScaleDown = 1.925929944387236E-34f;

    /// <summary>Whether any of the halves (given as |half| &lt;&lt; 1) is subnormal: 0 &lt; v &lt; 0x0800, i.e. v − 1
    /// (wrapping 0 to 0xFFFF) below 0x07FF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnySubnormal(Vector512<ushort> h) => Vector512.LessThanAny(h - Vector512<ushort>.One, Vector512.Create((ushort)0x07FF));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnySubnormal(Vector256<ushort> h) => Vector256.LessThanAny(h - Vector256<ushort>.One, Vector256.Create((ushort)0x07FF));

    /// <summary>The scaled activation row is <see cref="DecodeScratch"/> (on the stack up to n ≈ 16,000: every
    /// Qwen1.5 hidden width), with room to align it to 64 bytes.</summary>
    public static void MatVec512(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        int bytes = (n / 16 * 16 + 16) * sizeof(float);
        if (Avoid) DecodeScratch.Run(bytes, &MatVec512<AvoidSubnormals>, weights, n, rowStart, rowEnd, activation, output);
        else DecodeScratch.Run(bytes, &MatVec512<AllowSubnormals>, weights, n, rowStart, rowEnd, activation, output);
    }

    private static void MatVec512<TPolicy>(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
        where TPolicy : struct, ISubnormalPolicy
    {
        int body = n / 16 * 16;
        long rowBytes = 2L * n;
        float* a = (float*)(((nint)scratch + 63) & ~(nint)63);
        for (int i = 0; i < body; i += 16) (Fp16.Load16(activation + 2 * i) * Vector512.Create(Fp16.ScaleUp)).Store(a + i);
        for (int r = rowStart; r < rowEnd; r++) output[r] = OneRow<TPolicy>(weights + r * rowBytes, a, activation, n);
    }

    /// <summary>Sixteen halves at p as w·2^-112 in fp32 (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Weights(byte* p) =>
        Fp16.SignExtendedToScaledDown(Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)));

    private static float OneRow<TPolicy>(byte* w, float* a, byte* activation, int n) where TPolicy : struct, ISubnormalPolicy
    {
        Vector512<float> s = default, t = default;
        Vector512<ushort> g = default;
        int ahead = Block32Rows.PrefetchAhead, i = 0;
        for (; i + 32 <= n; i += 32)
        {
            if (ahead > 0) Sse.Prefetch0(w + 2 * i + ahead);
            var h = Vector512.Load((ushort*)(w + 2 * i)) << 1;   // |half| << 1, sign shifted out
            g = Vector512.Max(g, h);
            if (TPolicy.Avoid && AnySubnormal(h))
            {
                // w·2^-112 of a half subnormal is an fp32 subnormal, and an FMA with a subnormal input takes a
                // microcode assist on some CPUs (SubnormalFma; on a Xeon a matvec at 0.24 % subnormal weights, std
                // 0.02 like real checkpoints, measured 2.6x slower). Such chunks convert exactly and take the
                // activations unscaled: the same exact products, so the same sums.
                s = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i), Vector512.Load(a + i) * Vector512.Create(ScaleDown), s);
                t = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i + 32), Vector512.Load(a + i + 16) * Vector512.Create(ScaleDown), t);
                continue;
            }
            s = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i), Vector512.Load(a + i), s);
            t = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i + 32), Vector512.Load(a + i + 16), t);
        }
        // the one 16-element step a row may have left is not checked: at most one assist per row
        if (i + 16 <= n) s = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i), Vector512.Load(a + i), s);
        return Finish(s, t, g, w, activation, i, n);
    }

    /// <summary>Dot512's end: the two accumulators added, reduced, plus the scalar tail after the last 16-element
    /// step (i is where the 32-element loop stopped); a row with an infinity or NaN goes through the exact dot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector512<float> s, Vector512<float> t, Vector512<ushort> guard, byte* w, byte* activation, int i, int n)
    {
        // the 16-element step after the 32-element loop is checked here; the scalar tail converts exactly anyway
        if (i + 16 <= n) guard = Vector512.Max(guard, (Vector256.Load((ushort*)(w + 2 * i)) << 1).ToVector512());
        if (Vector512.GreaterThanOrEqualAny(guard, Vector512.Create(SpecialShifted)))
            return F16Kernels.Dot512<F16Kernels.HalfActivation>(w, activation, n);
        int tailStart = i + 16 <= n ? i + 16 : i;
        return Simd512.Sum(s + t) + F16Kernels.ScalarTail<F16Kernels.HalfActivation>(w, activation, tailStart, n);
    }

    // ---- Vector256 rung (AVX2 + FMA): the same recipe in F16Kernels.Dot256's order (16-element step, 8-element step) ----

    public static void MatVec256(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        int bytes = (n / 8 * 8 + 16) * sizeof(float);
        if (Avoid) DecodeScratch.Run(bytes, &MatVec256<AvoidSubnormals>, weights, n, rowStart, rowEnd, activation, output);
        else DecodeScratch.Run(bytes, &MatVec256<AllowSubnormals>, weights, n, rowStart, rowEnd, activation, output);
    }

    private static void MatVec256<TPolicy>(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
        where TPolicy : struct, ISubnormalPolicy
    {
        int body = n / 8 * 8;
        long rowBytes = 2L * n;
        float* a = (float*)(((nint)scratch + 63) & ~(nint)63);
        for (int i = 0; i < body; i += 8) (Fp16.Load8(activation + 2 * i) * Vector256.Create(Fp16.ScaleUp)).Store(a + i);
        for (int r = rowStart; r < rowEnd; r++) output[r] = OneRow256<TPolicy>(weights + r * rowBytes, a, activation, n);
    }

    /// <summary>Eight halves at p as w·2^-112 in fp32 (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Weights8(byte* p) =>
        Fp16.SignExtendedToScaledDown(Avx2.ConvertToVector256Int32((short*)p));

    private static float OneRow256<TPolicy>(byte* w, float* a, byte* activation, int n) where TPolicy : struct, ISubnormalPolicy
    {
        Vector256<float> s = default, t = default;
        Vector256<ushort> g = default;
        int ahead = Block32Rows.PrefetchAhead, i = 0;
        for (; i + 16 <= n; i += 16)
        {
            if (ahead > 0 && (i & 31) == 0) Sse.Prefetch0(w + 2 * i + ahead);
            var h = Vector256.Load((ushort*)(w + 2 * i)) << 1;
            g = Vector256.Max(g, h);
            if (TPolicy.Avoid && AnySubnormal(h))
            {
                // see OneRow: exact conversion and unscaled activations where a subnormal would take an assist
                s = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i), Vector256.Load(a + i) * Vector256.Create(ScaleDown), s);
                t = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i + 16), Vector256.Load(a + i + 8) * Vector256.Create(ScaleDown), t);
                continue;
            }
            s = Fma.MultiplyAdd(Weights8(w + 2 * i), Vector256.Load(a + i), s);
            t = Fma.MultiplyAdd(Weights8(w + 2 * i + 16), Vector256.Load(a + i + 8), t);
        }
        if (i + 8 <= n) s = Fma.MultiplyAdd(Weights8(w + 2 * i), Vector256.Load(a + i), s);
        return Finish256(s, t, g, w, activation, i, n);
    }

    /// <summary>Dot256's end (see <see cref="Finish"/>); i is where the 16-element loop stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish256(Vector256<float> s, Vector256<float> t, Vector256<ushort> guard, byte* w, byte* activation, int i, int n)
    {
        if (i + 8 <= n) guard = Vector256.Max(guard, (Vector128.Load((ushort*)(w + 2 * i)) << 1).ToVector256());
        if (Vector256.GreaterThanOrEqualAny(guard, Vector256.Create(SpecialShifted)))
            return F16Kernels.Dot256<F16Kernels.HalfActivation>(w, activation, n);
        int tailStart = i + 8 <= n ? i + 8 : i;
        return Simd256.Sum(s + t) + F16Kernels.ScalarTail<F16Kernels.HalfActivation>(w, activation, tailStart, n);
    }
}

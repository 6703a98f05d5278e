using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for F16 weights on the Vector512 and Vector256 rungs, four rows per pass. The exact fp16
/// conversion (.NET 10 has no vcvtph2ps) costs about ten instructions per sixteen weights; this kernel needs three:
/// sign-extend the halves to int32 (vpmovsxwd), shift left by 13 and clear bits 28..30. That leaves the sign in bit
/// 31 and the half's exponent and mantissa in an fp32's, i.e. exactly w·2^-112 for every finite half, subnormals
/// included (a half subnormal m·2^-24 lands on the fp32 subnormal m·2^-136). The activation row is converted once
/// per call and multiplied by 2^112 (exact: |a| ≤ 65504 &lt; 2^16, so a·2^112 stays below 2^128), and each fused
/// multiply-add then sees the exact product w·a, as <see cref="F16Kernels.Dot512{TActivation}"/> does: same two
/// accumulators over the same elements, same 16-element step, final reduction and scalar tail, so every output is
/// bit-identical to the single-row dot. Halves with an all-ones exponent (infinity, NaN) would come out finite, so
/// each row keeps the largest |half| it saw (one shift and one unsigned max per 32 weights) and a row that met one
/// is recomputed with the single-row dot.</summary>
internal static unsafe class F16Rows
{
    /// <summary>|half| &lt;&lt; 1 at or above this is an all-ones exponent (infinity or NaN).</summary>
    private const ushort SpecialShifted = 0xF800;

    /// <summary>2^-112: takes a scaled activation back to its exact value (a normal fp32 or zero).</summary>
    private const float ScaleDown = 1.925929944387236E-34f;

    /// <summary>Whether any of the halves (given as |half| &lt;&lt; 1) is subnormal: 0 &lt; v &lt; 0x0800, i.e. v − 1
    /// (wrapping 0 to 0xFFFF) below 0x07FF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnySubnormal(Vector512<ushort> h0, Vector512<ushort> h1, Vector512<ushort> h2, Vector512<ushort> h3)
    {
        var one = Vector512<ushort>.One;
        var low = Vector512.Min(Vector512.Min(h0 - one, h1 - one), Vector512.Min(h2 - one, h3 - one));
        return Vector512.LessThanAny(low, Vector512.Create((ushort)0x07FF));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnySubnormal(Vector256<ushort> h0, Vector256<ushort> h1, Vector256<ushort> h2, Vector256<ushort> h3)
    {
        var one = Vector256<ushort>.One;
        var low = Vector256.Min(Vector256.Min(h0 - one, h1 - one), Vector256.Min(h2 - one, h3 - one));
        return Vector256.LessThanAny(low, Vector256.Create((ushort)0x07FF));
    }

    /// <summary>The scaled activation row is <see cref="DecodeScratch"/> (on the stack up to n ≈ 16,000: every
    /// Qwen1.5 hidden width), with room to align it to 64 bytes.</summary>
    public static void MatVec512(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        DecodeScratch.Run((n / 16 * 16 + 16) * sizeof(float), &MatVec512, weights, n, rowStart, rowEnd, activation, output);
    }

    private static void MatVec512(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
    {
        int body = n / 16 * 16;
        long rowBytes = 2L * n;
        float* a = (float*)(((nint)scratch + 63) & ~(nint)63);
        for (int i = 0; i < body; i += 16) (Fp16.Load16(activation + 2 * i) * Vector512.Create(Fp16.ScaleUp)).Store(a + i);
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4) FourRows(weights + r * rowBytes, rowBytes, a, activation, n, output + r);
        for (; r < rowEnd; r++)
        {
            byte* w = weights + r * rowBytes;
            output[r] = OneRow(w, a, activation, n);
        }
    }

    /// <summary>Sixteen halves at p as w·2^-112 in fp32 (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Weights(byte* p) =>
        ((Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)) << 13) & Vector512.Create(unchecked((int)0x8FFF_FFFF))).AsSingle();

    /// <summary>guard = max(guard, |half| &lt;&lt; 1) over 32 halves at p (the sign shifted out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ushort> Guard(Vector512<ushort> guard, byte* p) => Vector512.Max(guard, Vector512.Load((ushort*)p) << 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Special(Vector512<ushort> guard, byte* w, int i, int n)
    {
        // the 16-element step after the 32-element loop is checked here; the scalar tail converts exactly anyway
        if (i + 16 <= n) guard = Vector512.Max(guard, (Vector256.Load((ushort*)(w + 2 * i)) << 1).ToVector512());
        return Vector512.GreaterThanOrEqualAny(guard, Vector512.Create(SpecialShifted));
    }

    private static void FourRows(byte* w, long rowBytes, float* a, byte* activation, int n, float* o)
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector512<float> s0 = default, t0 = default, s1 = default, t1 = default, s2 = default, t2 = default, s3 = default, t3 = default;
        Vector512<ushort> g0 = default, g1 = default, g2 = default, g3 = default;
        int i = 0;
        long ahead = Block32Rows.TileAhead(rowBytes);   // at least a tile of four rows ahead: measured 7.0 -> 9.5 GB/s vs 4 KB on a 151936x1024 matrix
        for (; i + 32 <= n; i += 32)
        {
            if (ahead > 0)
            {
                Sse.Prefetch0(w0 + 2 * i + ahead); Sse.Prefetch0(w1 + 2 * i + ahead);
                Sse.Prefetch0(w2 + 2 * i + ahead); Sse.Prefetch0(w3 + 2 * i + ahead);
            }
            var x0 = Vector512.Load(a + i);
            var x1 = Vector512.Load(a + i + 16);
            var h0 = Vector512.Load((ushort*)(w0 + 2 * i)) << 1;   // |half| << 1, sign shifted out
            var h1 = Vector512.Load((ushort*)(w1 + 2 * i)) << 1;
            var h2 = Vector512.Load((ushort*)(w2 + 2 * i)) << 1;
            var h3 = Vector512.Load((ushort*)(w3 + 2 * i)) << 1;
            g0 = Vector512.Max(g0, h0); g1 = Vector512.Max(g1, h1); g2 = Vector512.Max(g2, h2); g3 = Vector512.Max(g3, h3);
            if (AnySubnormal(h0, h1, h2, h3))
            {
                // w·2^-112 of a half subnormal is an fp32 subnormal, and an FMA with a subnormal input takes a
                // microcode assist on this Xeon (a matvec at 0.24 % subnormal weights, std 0.02 like real
                // checkpoints, measured 2.6x slower). Such chunks convert exactly and take the activations
                // unscaled: the same exact products, so the same sums.
                var p0 = x0 * Vector512.Create(ScaleDown);
                var p1 = x1 * Vector512.Create(ScaleDown);
                s0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w0 + 2 * i), p0, s0); t0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w0 + 2 * i + 32), p1, t0);
                s1 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w1 + 2 * i), p0, s1); t1 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w1 + 2 * i + 32), p1, t1);
                s2 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w2 + 2 * i), p0, s2); t2 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w2 + 2 * i + 32), p1, t2);
                s3 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w3 + 2 * i), p0, s3); t3 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w3 + 2 * i + 32), p1, t3);
                continue;
            }
            s0 = Avx512F.FusedMultiplyAdd(Weights(w0 + 2 * i), x0, s0); t0 = Avx512F.FusedMultiplyAdd(Weights(w0 + 2 * i + 32), x1, t0);
            s1 = Avx512F.FusedMultiplyAdd(Weights(w1 + 2 * i), x0, s1); t1 = Avx512F.FusedMultiplyAdd(Weights(w1 + 2 * i + 32), x1, t1);
            s2 = Avx512F.FusedMultiplyAdd(Weights(w2 + 2 * i), x0, s2); t2 = Avx512F.FusedMultiplyAdd(Weights(w2 + 2 * i + 32), x1, t2);
            s3 = Avx512F.FusedMultiplyAdd(Weights(w3 + 2 * i), x0, s3); t3 = Avx512F.FusedMultiplyAdd(Weights(w3 + 2 * i + 32), x1, t3);
        }
        if (i + 16 <= n)
        {
            var x = Vector512.Load(a + i);
            s0 = Avx512F.FusedMultiplyAdd(Weights(w0 + 2 * i), x, s0);
            s1 = Avx512F.FusedMultiplyAdd(Weights(w1 + 2 * i), x, s1);
            s2 = Avx512F.FusedMultiplyAdd(Weights(w2 + 2 * i), x, s2);
            s3 = Avx512F.FusedMultiplyAdd(Weights(w3 + 2 * i), x, s3);
        }
        o[0] = Finish(s0, t0, g0, w0, activation, i, n);
        o[1] = Finish(s1, t1, g1, w1, activation, i, n);
        o[2] = Finish(s2, t2, g2, w2, activation, i, n);
        o[3] = Finish(s3, t3, g3, w3, activation, i, n);
    }

    private static float OneRow(byte* w, float* a, byte* activation, int n)
    {
        Vector512<float> s = default, t = default;
        Vector512<ushort> g = default;
        int ahead = Block32Rows.PrefetchAhead, i = 0;
        for (; i + 32 <= n; i += 32)
        {
            if (ahead > 0) Sse.Prefetch0(w + 2 * i + ahead);
            s = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i), Vector512.Load(a + i), s);
            t = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i + 32), Vector512.Load(a + i + 16), t);
            g = Guard(g, w + 2 * i);
        }
        if (i + 16 <= n) s = Avx512F.FusedMultiplyAdd(Weights(w + 2 * i), Vector512.Load(a + i), s);
        return Finish(s, t, g, w, activation, i, n);
    }

    /// <summary>Dot512's end: the two accumulators added, reduced, plus the scalar tail after the last 16-element
    /// step (i is where the 32-element loop stopped); a row with an infinity or NaN goes through the exact dot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector512<float> s, Vector512<float> t, Vector512<ushort> guard, byte* w, byte* activation, int i, int n)
    {
        if (Special(guard, w, i, n)) return F16Kernels.Dot512<F16Kernels.HalfActivation>(w, activation, n);
        int tailStart = i + 16 <= n ? i + 16 : i;
        return Simd512.Sum(s + t) + F16Kernels.ScalarTail<F16Kernels.HalfActivation>(w, activation, tailStart, n);
    }

    // ---- Vector256 rung (AVX2 + FMA): the same recipe in F16Kernels.Dot256's order (16-element step, 8-element step) ----

    public static void MatVec256(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        DecodeScratch.Run((n / 8 * 8 + 16) * sizeof(float), &MatVec256, weights, n, rowStart, rowEnd, activation, output);
    }

    private static void MatVec256(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
    {
        int body = n / 8 * 8;
        long rowBytes = 2L * n;
        float* a = (float*)(((nint)scratch + 63) & ~(nint)63);
        for (int i = 0; i < body; i += 8) (Fp16.Load8(activation + 2 * i) * Vector256.Create(Fp16.ScaleUp)).Store(a + i);
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4) FourRows256(weights + r * rowBytes, rowBytes, a, activation, n, output + r);
        for (; r < rowEnd; r++) output[r] = OneRow256(weights + r * rowBytes, a, activation, n);
    }

    /// <summary>Eight halves at p as w·2^-112 in fp32 (exact for finite halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Weights8(byte* p) =>
        ((Avx2.ConvertToVector256Int32((short*)p) << 13) & Vector256.Create(unchecked((int)0x8FFF_FFFF))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Guard16(Vector256<ushort> guard, byte* p) => Vector256.Max(guard, Vector256.Load((ushort*)p) << 1);

    private static void FourRows256(byte* w, long rowBytes, float* a, byte* activation, int n, float* o)
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> s0 = default, t0 = default, s1 = default, t1 = default, s2 = default, t2 = default, s3 = default, t3 = default;
        Vector256<ushort> g0 = default, g1 = default, g2 = default, g3 = default;
        int i = 0;
        long ahead = Block32Rows.TileAhead(rowBytes);
        for (; i + 16 <= n; i += 16)
        {
            if (ahead > 0 && (i & 31) == 0)
            {
                Sse.Prefetch0(w0 + 2 * i + ahead); Sse.Prefetch0(w1 + 2 * i + ahead);
                Sse.Prefetch0(w2 + 2 * i + ahead); Sse.Prefetch0(w3 + 2 * i + ahead);
            }
            var x0 = Vector256.Load(a + i);
            var x1 = Vector256.Load(a + i + 8);
            var h0 = Vector256.Load((ushort*)(w0 + 2 * i)) << 1;
            var h1 = Vector256.Load((ushort*)(w1 + 2 * i)) << 1;
            var h2 = Vector256.Load((ushort*)(w2 + 2 * i)) << 1;
            var h3 = Vector256.Load((ushort*)(w3 + 2 * i)) << 1;
            g0 = Vector256.Max(g0, h0); g1 = Vector256.Max(g1, h1); g2 = Vector256.Max(g2, h2); g3 = Vector256.Max(g3, h3);
            if (AnySubnormal(h0, h1, h2, h3))
            {
                // see FourRows: exact conversion and unscaled activations where a subnormal would take an assist
                var p0 = x0 * Vector256.Create(ScaleDown);
                var p1 = x1 * Vector256.Create(ScaleDown);
                s0 = Fma.MultiplyAdd(Fp16.Load8(w0 + 2 * i), p0, s0); t0 = Fma.MultiplyAdd(Fp16.Load8(w0 + 2 * i + 16), p1, t0);
                s1 = Fma.MultiplyAdd(Fp16.Load8(w1 + 2 * i), p0, s1); t1 = Fma.MultiplyAdd(Fp16.Load8(w1 + 2 * i + 16), p1, t1);
                s2 = Fma.MultiplyAdd(Fp16.Load8(w2 + 2 * i), p0, s2); t2 = Fma.MultiplyAdd(Fp16.Load8(w2 + 2 * i + 16), p1, t2);
                s3 = Fma.MultiplyAdd(Fp16.Load8(w3 + 2 * i), p0, s3); t3 = Fma.MultiplyAdd(Fp16.Load8(w3 + 2 * i + 16), p1, t3);
                continue;
            }
            s0 = Fma.MultiplyAdd(Weights8(w0 + 2 * i), x0, s0); t0 = Fma.MultiplyAdd(Weights8(w0 + 2 * i + 16), x1, t0);
            s1 = Fma.MultiplyAdd(Weights8(w1 + 2 * i), x0, s1); t1 = Fma.MultiplyAdd(Weights8(w1 + 2 * i + 16), x1, t1);
            s2 = Fma.MultiplyAdd(Weights8(w2 + 2 * i), x0, s2); t2 = Fma.MultiplyAdd(Weights8(w2 + 2 * i + 16), x1, t2);
            s3 = Fma.MultiplyAdd(Weights8(w3 + 2 * i), x0, s3); t3 = Fma.MultiplyAdd(Weights8(w3 + 2 * i + 16), x1, t3);
        }
        if (i + 8 <= n)
        {
            var x = Vector256.Load(a + i);
            s0 = Fma.MultiplyAdd(Weights8(w0 + 2 * i), x, s0);
            s1 = Fma.MultiplyAdd(Weights8(w1 + 2 * i), x, s1);
            s2 = Fma.MultiplyAdd(Weights8(w2 + 2 * i), x, s2);
            s3 = Fma.MultiplyAdd(Weights8(w3 + 2 * i), x, s3);
        }
        o[0] = Finish256(s0, t0, g0, w0, activation, i, n);
        o[1] = Finish256(s1, t1, g1, w1, activation, i, n);
        o[2] = Finish256(s2, t2, g2, w2, activation, i, n);
        o[3] = Finish256(s3, t3, g3, w3, activation, i, n);
    }

    private static float OneRow256(byte* w, float* a, byte* activation, int n)
    {
        Vector256<float> s = default, t = default;
        Vector256<ushort> g = default;
        int ahead = Block32Rows.PrefetchAhead, i = 0;
        for (; i + 16 <= n; i += 16)
        {
            if (ahead > 0 && (i & 31) == 0) Sse.Prefetch0(w + 2 * i + ahead);
            s = Fma.MultiplyAdd(Weights8(w + 2 * i), Vector256.Load(a + i), s);
            t = Fma.MultiplyAdd(Weights8(w + 2 * i + 16), Vector256.Load(a + i + 8), t);
            g = Guard16(g, w + 2 * i);
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

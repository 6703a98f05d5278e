using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for BF16 weights on the Vector512 and Vector256 rungs, one row after another,
/// each read as a stream prefetched <see cref="Block32Rows.PrefetchAhead"/> ahead (with no prefetch the bf16 0.5B
/// decoded at 15.3 t/s against 19.3 for f16, the same bytes, on the Intel machine of earlier sessions). Four rows per
/// pass ran there next; on the AMD EPYC of 2026-11-27 one stream per thread read faster from DRAM (tg64 of the bf16
/// model, one process, alternating rounds: 1.18-1.29 for one row at a time; see <see cref="F16Rows"/>). The
/// activation row (bf16) is split once per call into the even and odd floats of each step, as
/// <see cref="BF16Kernels.Dot512"/> and Dot256 split it per row; every row then runs that rung's own arithmetic (even
/// products into one accumulator, odd into the other, the same step, reduction and scalar tail), so each output is
/// bit-identical to the single-row dot. A bf16 → fp32 conversion is exact for every value, infinities and NaNs
/// included, so there is no special case. One loop serves both rungs through <see cref="ILanes{TV}"/>.</summary>
internal static unsafe class BF16Rows
{
    public static void MatVec512(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        DecodeScratch.Run(ScratchBytes<Lanes512>(n), &MatVec<Lanes512, Vector512<float>>, weights, n, rowStart, rowEnd, activation, output);
    }

    public static void MatVec256(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        DecodeScratch.Run(ScratchBytes<Lanes256>(n), &MatVec<Lanes256, Vector256<float>>, weights, n, rowStart, rowEnd, activation, output);
    }

    /// <summary>The expanded activation row, with room to align it to 64 bytes.</summary>
    private static int ScratchBytes<L>(int n) where L : ILanes => (n / L.Step * L.Step + 16) * sizeof(float);

    /// <summary>What a rung's vector (<typeparamref name="TV"/>) needs here: <see cref="ILanes.Step"/> bf16 elements a
    /// step, as Step / 2 even and as many odd floats, the rung's fused multiply-add and its single-row dot's reduction.
    /// The vectors are a type argument of their own, not wrapped in the implementing struct: wrapped, the JIT kept all
    /// eight accumulators on the stack.</summary>
    private interface ILanes
    {
        static abstract int Step { get; }
        /// <summary>The activation's whole steps as floats: per step the even elements, then the odd.</summary>
        static abstract void Expand(byte* src, float* dst, int body);
    }

    private interface ILanes<TV> : ILanes where TV : struct
    {
        static abstract TV Floats(float* p);
        /// <summary>One step of weights at p, as loaded (pairs of bf16 per 32-bit lane).</summary>
        static abstract TV Bits(byte* p);
        /// <summary>The even elements of loaded bits as floats (low halves shifted up), and the odd ones (high halves).</summary>
        static abstract TV Even(TV bits);
        static abstract TV Odd(TV bits);
        static abstract TV MulAdd(TV a, TV b, TV c);
        /// <summary>Simd512/256.Sum(even + odd), the single-row dot's reduction.</summary>
        static abstract float Sum(TV even, TV odd);
    }

    private readonly struct Lanes512 : ILanes<Vector512<float>>
    {
        public static int Step => 32;
        public static void Expand(byte* src, float* dst, int body) => BF16Kernels.Tile.Expand(src, dst, body);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Floats(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Bits(byte* p) => Vector512.Load((float*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Even(Vector512<float> bits) => (bits.AsUInt32() << 16).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Odd(Vector512<float> bits) => (bits.AsUInt32() & Vector512.Create(0xFFFF_0000u)).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> even, Vector512<float> odd) => Simd512.Sum(even + odd);
    }

    private readonly struct Lanes256 : ILanes<Vector256<float>>
    {
        public static int Step => 16;
        public static void Expand(byte* src, float* dst, int body)
        {
            for (int i = 0; i < body; i += 16)
            {
                var bits = Bits(src + 2 * i);
                Even(bits).Store(dst + i);
                Odd(bits).Store(dst + i + 8);
            }
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Floats(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Bits(byte* p) => Vector256.Load((float*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Even(Vector256<float> bits) => (bits.AsUInt32() << 16).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Odd(Vector256<float> bits) => (bits.AsUInt32() & Vector256.Create(0xFFFF_0000u)).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> even, Vector256<float> odd) => Simd256.Sum(even + odd);
    }

    private static void MatVec<L, TV>(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
        where L : ILanes<TV> where TV : struct
    {
        int body = n / L.Step * L.Step;
        long rowBytes = 2L * n;
        float* a = (float*)(((nint)scratch + 63) & ~(nint)63);
        L.Expand(activation, a, body);
        for (int r = rowStart; r < rowEnd; r++) output[r] = OneRow<L, TV>(weights + r * rowBytes, a, activation, body, n);
    }

    private static float OneRow<L, TV>(byte* w, float* a, byte* activation, int body, int n) where L : ILanes<TV> where TV : struct
    {
        TV e = default, d = default;
        int ahead = Block32Rows.PrefetchAhead;
        for (int i = 0; i < body; i += L.Step)
        {
            if (ahead > 0 && (i & 31) == 0) Sse.Prefetch0(w + 2 * i + ahead);
            var x = L.Bits(w + 2 * i);
            e = L.MulAdd(L.Even(x), L.Floats(a + i), e);
            d = L.MulAdd(L.Odd(x), L.Floats(a + i + L.Step / 2), d);
        }
        return L.Sum(e, d) + BF16Kernels.DotScalar(w + 2 * body, activation + 2 * body, n - body);
    }
}

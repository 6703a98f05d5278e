using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>BF16 weights against BF16 activations. A dot product does not care about element order, so the dot
/// kernels read pairs as 32-bit words and split them into even (word &lt;&lt; 16) and odd (word &amp; 0xFFFF0000)
/// floats: two instructions per vector instead of a widening shuffle.</summary>
internal static unsafe class BF16Kernels
{
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new WeightKernels(&Dequantize512, &Dot512).WithMatMul(&FloatTile.MatMul<Tile>).WithMatVec(&MatVec512),
        KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize256, &Dot256).WithMatVec(&MatVec256),
        KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => new(&Dequantize128, &Dot128),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n; i++) dst[i] = BFloat16.ToSingle(src + 2 * i);
    }

    public static void Dequantize128(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var h = Vector128.Load((ushort*)(src + 2 * i));
            (Vector128.WidenLower(h) << 16).AsSingle().Store(dst + i);
            (Vector128.WidenUpper(h) << 16).AsSingle().Store(dst + i + 4);
        }
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static void Dequantize256(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) (Avx2.ConvertToVector256Int32((ushort*)(src + 2 * i)) << 16).AsSingle().Store(dst + i);
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static void Dequantize512(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 16 <= n; i += 16) (Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)(src + 2 * i))) << 16).AsSingle().Store(dst + i);
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += BFloat16.ToSingle(w + 2 * i) * BFloat16.ToSingle(a + 2 * i);
        return sum;
    }

    public static float Dot128(byte* w, byte* a, int n)
    {
        var acc = Vector128<float>.Zero;
        var high = Vector128.Create(0xFFFF_0000u);
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var x = Vector128.Load((uint*)(w + 2 * i));
            var y = Vector128.Load((uint*)(a + 2 * i));
            acc += (x << 16).AsSingle() * (y << 16).AsSingle() + (x & high).AsSingle() * (y & high).AsSingle();
        }
        return Vector128.Sum(acc) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }

    public static float Dot256(byte* w, byte* a, int n) => Dot256(w, a, n, 0);

    /// <summary>Dot256 that prefetches the weights <paramref name="ahead"/> bytes ahead (0: none), one line per 32
    /// elements: the decode matvec's row stream.</summary>
    private static float Dot256(byte* w, byte* a, int n, int ahead)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        var high = Vector256.Create(0xFFFF_0000u);
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            if (ahead > 0 && (i & 31) == 0) Sse.Prefetch0(w + 2 * i + ahead);
            var x = Vector256.Load((uint*)(w + 2 * i));
            var y = Vector256.Load((uint*)(a + 2 * i));
            acc0 = Fma.MultiplyAdd((x << 16).AsSingle(), (y << 16).AsSingle(), acc0);
            acc1 = Fma.MultiplyAdd((x & high).AsSingle(), (y & high).AsSingle(), acc1);
        }
        return Simd256.Sum(acc0 + acc1) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }

    public static float Dot512(byte* w, byte* a, int n) => Dot512(w, a, n, 0);

    /// <summary>Dot512 that prefetches the weights <paramref name="ahead"/> bytes ahead (0: none), one line per step.</summary>
    private static float Dot512(byte* w, byte* a, int n, int ahead)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var high = Vector512.Create(0xFFFF_0000u);
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            if (ahead > 0) Sse.Prefetch0(w + 2 * i + ahead);
            var x = Vector512.Load((uint*)(w + 2 * i));
            var y = Vector512.Load((uint*)(a + 2 * i));
            acc0 = Avx512F.FusedMultiplyAdd((x << 16).AsSingle(), (y << 16).AsSingle(), acc0);
            acc1 = Avx512F.FusedMultiplyAdd((x & high).AsSingle(), (y & high).AsSingle(), acc1);
        }
        return Simd512.Sum(acc0 + acc1) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }

    /// <summary>Decode (batch 1) MatMulRows: the single-row dot row after row, each row a stream prefetched
    /// <see cref="Block32Rows.PrefetchAhead"/> ahead, so every output is the single-row dot's by construction. Without
    /// the prefetch the bf16 0.5B decoded at 15.3 t/s against 19.3 for f16 (the same bytes; Intel machine, 2026-11-27).
    /// Four rows per pass, with the activation split once per call, came next there; on the AMD EPYC one stream per
    /// thread read faster from DRAM (tg64 of the bf16 model, one process, alternating rounds: 1.18-1.29 for one row at a
    /// time, see <see cref="F16Rows"/>). Splitting the activation per row, as the dot does, against once per call: 0.975-1.005
    /// (the same, one process, alternating rounds, six runs over both bandwidth states), so the dot serves as it is.</summary>
    public static void MatVec512(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        int ahead = Block32Rows.PrefetchAhead;
        for (int r = rowStart; r < rowEnd; r++) output[r] = Dot512(weights + 2L * n * r, activation, n, ahead);
    }

    public static void MatVec256(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        int ahead = Block32Rows.PrefetchAhead;
        for (int r = rowStart; r < rowEnd; r++) output[r] = Dot256(weights + 2L * n * r, activation, n, ahead);
    }

    /// <summary>The Vector512 tile: each 32-element step as Dot512 splits it, 16 even elements then 16 odd.</summary>
    internal readonly struct Tile : IFloatTile
    {
        public static void Expand(byte* src, float* dst, int n)
        {
            var high = Vector512.Create(0xFFFF_0000u);
            for (int i = 0; i + 32 <= n; i += 32)
            {
                var x = Vector512.Load((uint*)(src + 2 * i));
                (x << 16).AsSingle().Store(dst + i);
                (x & high).AsSingle().Store(dst + i + 16);
            }
        }

        public static bool SixteenStep => false;
        public static float Tail(byte* w, byte* a, int start, int n) => DotScalar(w + 2 * start, a + 2 * start, n - start);
        public static float Dot(byte* w, byte* a, int n) => Dot512(w, a, n);
    }
}

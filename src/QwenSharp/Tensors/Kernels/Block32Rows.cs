using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for 32-element block types without offsets on the Vector256 rungs, four
/// weight rows per pass: each activation block is loaded and its fp16 scales gathered once for four rows, and where
/// the byte dot allows, weights go in unsigned (q + Bias) with the activation's Bias·Σq_a taken off once per group for
/// all four rows, which drops the per-row sign transfer. Per row the arithmetic is otherwise
/// <see cref="Block32Dot.Dot256{TKernel,TDot}"/>'s: the same exact per-block integer sums, laid out by SumEach, the
/// same fp32 scale products and fused accumulation, the same final reduction and tail, so every output is
/// bit-identical to the single-row dot. Rows beyond the last full group of four go through that dot.
/// Wired for Q8_0 on AVX2 without VNNI only (with vpdpbusd Q8_0 runs <see cref="PairedRows{TBlocks,TDot}"/>): measured at batch 1 on a 151936×1024 matrix (both with prefetch), Q8_0 gains ~5% over the
/// single-row dot (9.8 vs 9.2 GB/s one thread, 16.4 vs 16.0 two), while Q4_0, whose nibble unpacking makes it
/// compute-bound, loses (5.1-5.6 vs 5.4-5.9 GB/s one thread, 7.5-8.5 vs 8.5-9.7 two).</summary>
internal static unsafe class Block32Rows
{
    private const int Rows = 4;

    /// <summary>How far ahead of each row's weight stream to prefetch, in bytes (all four rows' streams together
    /// land on the next tile). Decode reads weights from DRAM once per token and the hardware prefetcher alone
    /// leaves a core short of line fills: measured on a 151936×1024 matrix at batch 1, 6.8 -> 10.0 GB/s (Q8_0)
    /// and 4.3 -> 5.9 GB/s (Q4_0) on one thread, flat from 4 KB to 16 KB ahead. A field, not a constant, only so
    /// the benchmark can switch it off; prefetches never fault, so reading ahead past the matrix is harmless.</summary>
    internal static int PrefetchAhead = 4096;

    /// <summary>How far ahead a four-row pass over whole rows prefetches each row: <see cref="PrefetchAhead"/>, but
    /// at least one tile of four rows, so that a row's prefetch never lands inside the rows being read now (0: off).</summary>
    internal static long TileAhead(long rowBytes) => PrefetchAhead <= 0 ? 0 : Math.Max(4 * rowBytes, PrefetchAhead);

    public static void MatVec<TKernel, TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
        where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        long rowBytes = (long)(n / 32) * TKernel.WeightBlockBytes;
        int fullEnd = TKernel.HasOffset ? rowStart : rowStart + (rowEnd - rowStart) / Rows * Rows;
        for (int r = rowStart; r < fullEnd; r += Rows)
            FourRows<TKernel, TDot>(weights + r * rowBytes, rowBytes, activation, n, output + r);
        for (int r = fullEnd; r < rowEnd; r++)
            output[r] = Block32Dot.Dot256<TKernel, TDot>(weights + r * rowBytes, activation, n);
    }

    /// <summary>Whether the weights go in as unsigned q + Bias with the activation's Bias·Σq_a subtracted once per
    /// group for all four rows (no per-row sign transfer): always with vpdpbusd (it never saturates), and with
    /// AVX2's vpmaddubsw only while q + Bias stays below 64 (not Q8_0), so its 16-bit pair sums cannot saturate.
    /// Either way the block sums are the exact integers Dot256 computes.</summary>
    private static bool UnsignedWeights<TKernel, TDot>() where TKernel : IBlock32Tile where TDot : IInt8Dot256 =>
        typeof(TDot) == typeof(AvxVnniInt8Dot) || typeof(TKernel) != typeof(Q8_0Kernels.Blocks);

    /// <summary>Weight block of a row as the signed bytes Dot256 multiplies: q - Bias (for Q8_0 that is the stored
    /// bytes, loaded directly; the type test folds away per instantiation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Signed<TKernel>(byte* w) where TKernel : IBlock32Tile =>
        typeof(TKernel) == typeof(Q8_0Kernels.Blocks)
            ? Vector256.Load((sbyte*)(w + 2))
            : (TKernel.Unsigned(w) - Vector256.Create(TKernel.Bias)).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Block<TKernel, TDot>(byte* w, Vector256<sbyte> y) where TKernel : IBlock32Tile where TDot : IInt8Dot256 =>
        UnsignedWeights<TKernel, TDot>()
            ? TDot.MultiplyAdd(Vector256<int>.Zero, TKernel.Unsigned(w), y)
            : Simd256.MultiplyAddSigned<TDot>(Vector256<int>.Zero, Signed<TKernel>(w), y);

    /// <summary>Σ over eight consecutive blocks of one row against the eight preloaded activation vectors y0..y7:
    /// lane k = block k's integer sum (SumEach, as Dot256 builds it), less bias (lane k = Bias·Σ q_a of block k, or
    /// zero for signed weights).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> EightBlocks<TKernel, TDot>(byte* w, Vector256<sbyte> y0, Vector256<sbyte> y1, Vector256<sbyte> y2,
        Vector256<sbyte> y3, Vector256<sbyte> y4, Vector256<sbyte> y5, Vector256<sbyte> y6, Vector256<sbyte> y7, Vector256<int> bias)
        where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes;
        var sums = Simd256.SumEach(
            Block<TKernel, TDot>(w, y0), Block<TKernel, TDot>(w + wb, y1),
            Block<TKernel, TDot>(w + 2 * wb, y2), Block<TKernel, TDot>(w + 3 * wb, y3),
            Block<TKernel, TDot>(w + 4 * wb, y4), Block<TKernel, TDot>(w + 5 * wb, y5),
            Block<TKernel, TDot>(w + 6 * wb, y6), Block<TKernel, TDot>(w + 7 * wb, y7));
        return UnsignedWeights<TKernel, TDot>() ? sums - bias : sums;
    }

    private static void FourRows<TKernel, TDot>(byte* w, long rowBytes, byte* a, int n, float* o)
        where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes, at = TKernel.ActivationQuantsAt;
        int blocks = n / 32, b = 0;
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int ahead = PrefetchAhead, groupBytes = 8 * wb;
        for (; b + 8 <= blocks; b += 8, w0 += 8 * wb, w1 += 8 * wb, w2 += 8 * wb, w3 += 8 * wb, a += 8 * ab)
        {
            if (ahead > 0)
                for (int p = 0; p < groupBytes; p += 64)
                {
                    Sse.Prefetch0(w0 + ahead + p); Sse.Prefetch0(w1 + ahead + p);
                    Sse.Prefetch0(w2 + ahead + p); Sse.Prefetch0(w3 + ahead + p);
                }
            var y0 = Vector256.Load((sbyte*)(a + at)); var y1 = Vector256.Load((sbyte*)(a + ab + at));
            var y2 = Vector256.Load((sbyte*)(a + 2 * ab + at)); var y3 = Vector256.Load((sbyte*)(a + 3 * ab + at));
            var y4 = Vector256.Load((sbyte*)(a + 4 * ab + at)); var y5 = Vector256.Load((sbyte*)(a + 5 * ab + at));
            var y6 = Vector256.Load((sbyte*)(a + 6 * ab + at)); var y7 = Vector256.Load((sbyte*)(a + 7 * ab + at));
            var activationScales = Simd256.GatherHalves(a, ab);
            var bias = Vector256<int>.Zero;
            if (UnsignedWeights<TKernel, TDot>())
            {
                var b8 = Vector256.Create(TKernel.Bias);
                bias = Simd256.SumEach(TDot.MultiplyAdd(bias, b8, y0), TDot.MultiplyAdd(bias, b8, y1), TDot.MultiplyAdd(bias, b8, y2),
                    TDot.MultiplyAdd(bias, b8, y3), TDot.MultiplyAdd(bias, b8, y4), TDot.MultiplyAdd(bias, b8, y5),
                    TDot.MultiplyAdd(bias, b8, y6), TDot.MultiplyAdd(bias, b8, y7));
            }
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks<TKernel, TDot>(w0, y0, y1, y2, y3, y4, y5, y6, y7, bias)),
                                   Simd256.GatherHalves(w0, wb) * activationScales, acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks<TKernel, TDot>(w1, y0, y1, y2, y3, y4, y5, y6, y7, bias)),
                                   Simd256.GatherHalves(w1, wb) * activationScales, acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks<TKernel, TDot>(w2, y0, y1, y2, y3, y4, y5, y6, y7, bias)),
                                   Simd256.GatherHalves(w2, wb) * activationScales, acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks<TKernel, TDot>(w3, y0, y1, y2, y3, y4, y5, y6, y7, bias)),
                                   Simd256.GatherHalves(w3, wb) * activationScales, acc3);
        }
        // Dot256's final reduction: lanes summed, + 0 (no offsets), + the tail blocks
        int tail = blocks - b;
        o[0] = Simd256.Sum(acc0) + 0f + Block32Dot.Tail256<TKernel, TDot>(w0, a, tail);
        o[1] = Simd256.Sum(acc1) + 0f + Block32Dot.Tail256<TKernel, TDot>(w1, a, tail);
        o[2] = Simd256.Sum(acc2) + 0f + Block32Dot.Tail256<TKernel, TDot>(w2, a, tail);
        o[3] = Simd256.Sum(acc3) + 0f + Block32Dot.Tail256<TKernel, TDot>(w3, a, tail);
    }
}

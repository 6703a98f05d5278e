using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for Q8_0 on the AVX2 rung without VNNI (with vpdpbusd, Q8_0 runs
/// <see cref="PairedRows{TBlocks,TDot}"/>, whose unsigned q + 128 weights would saturate vpmaddubsw's pair sums here),
/// four weight rows per pass: each activation block is loaded and its fp16 scales gathered once for four rows. Per row
/// the arithmetic is <see cref="Block32Dot.Dot256{TKernel,TDot}"/>'s: the same exact per-block integer sums (sign
/// moved onto the activation), laid out by SumEach, the same fp32 scale products and fused accumulation, the same
/// final reduction and tail, so every output is bit-identical to the single-row dot. Rows beyond the last full group
/// of four go through that dot. Measured when it was written (151936×1024, batch 1, both with prefetch): ~5 % over
/// the single-row dot (9.8 vs 9.2 GB/s one thread, 16.4 vs 16.0 two).
/// Also home of the decode prefetch distance every batch-1 kernel uses.</summary>
internal static unsafe class Block32Rows
{
    private const int Rows = 4;

    /// <summary>How far ahead of each row's weight stream to prefetch, in bytes (all four rows' streams together
    /// land on the next tile). Decode reads weights from DRAM once per token and the hardware prefetcher alone
    /// leaves a core short of line fills: measured on a 151936×1024 matrix at batch 1, 6.8 -> 10.0 GB/s (Q8_0)
    /// and 4.3 -> 5.9 GB/s (Q4_0) on one thread, flat from 4 KB to 16 KB ahead. A field, not a constant: decode
    /// steps set it to 4 or 8 KiB, whichever they measure faster now (<see cref="PrefetchDistanceTuner"/>), and
    /// benchmarks switch it off; prefetches never fault, so reading ahead past the matrix is harmless.</summary>
    internal static int PrefetchAhead = 4096;

    /// <summary>How far ahead a four-row pass over whole rows prefetches each row: <see cref="PrefetchAhead"/>, but
    /// at least one tile of four rows, so that a row's prefetch never lands inside the rows being read now (0: off).</summary>
    internal static long TileAhead(long rowBytes) => PrefetchAhead <= 0 ? 0 : Math.Max(4 * rowBytes, PrefetchAhead);

    /// <summary>Prefetches the lines of one weight block (or group of blocks) of <paramref name="bytes"/> bytes (at
    /// most 320), <paramref name="ahead"/> bytes past w: one line per 64 bytes from there, nothing when ahead is 0
    /// (off). The per-block prefetch of every decode and small-batch kernel; where bytes is a constant of the
    /// instantiation the conditions fold away.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchBlock(byte* w, long ahead, int bytes)
    {
        if (ahead <= 0) return;
        byte* p = w + ahead;
        Sse.Prefetch0(p);
        if (bytes > 64) Sse.Prefetch0(p + 64);
        if (bytes > 128) Sse.Prefetch0(p + 128);
        if (bytes > 192) Sse.Prefetch0(p + 192);
        if (bytes > 256) Sse.Prefetch0(p + 256);
    }

    /// <summary><see cref="PrefetchBlock"/> for a batch-1 (decode) kernel: two non-temporal prefetches per line,
    /// the second <see cref="PrefetchFar"/> further on (<see cref="PrefetchLine"/>). The small-batch and prompt kernels keep the
    /// one prefetch: with four sequences the second cost 0.94-1.00 (tg of four sequences at once, q4_k_m, q4_0, q8_0,
    /// q6_k, one process, alternating rounds), and q4_k_m's prompt kernel shares the record prefetch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchBlockDecode(byte* w, long ahead, int bytes)
    {
        if (ahead <= 0) return;
        byte* p = w + ahead;
        PrefetchLine(p);
        if (bytes > 64) PrefetchLine(p + 64);
        if (bytes > 128) PrefetchLine(p + 128);
        if (bytes > 192) PrefetchLine(p + 192);
        if (bytes > 256) PrefetchLine(p + 256);
    }

    /// <summary>How much further than the first decode prefetch the second reaches (both prefetchnta since 2026-11-28,
    /// <see cref="PrefetchLine"/>; the measurements here were of prefetcht0 and prefetcht1). On this project's Zen 5
    /// machine (2026-11-27) the L1 prefetch alone at 4 KB left decode short of line fills whenever the memory bus was
    /// free, yet moving it to 8 KB cost 5-8 % whenever the bus was busy (other tenants): the read bandwidth there flips
    /// between about 45 and 82 GB/s for two threads. A second prefetch into L2, 4 KB further, gives about 1.0 while
    /// the bus is busy (0.98-1.01) and gains while it is free: tg64 in one process, alternating rounds, per-run medians
    /// q4_0 0.99-1.20, q6_k 1.01-1.25, q4_k_m 0.98-1.16, q8_0 0.99-1.16 (Tensors/README.md). Whether it runs is
    /// <see cref="FarOffset"/>'s business.</summary>
    internal const int PrefetchFar = 4096;

    /// <summary>Where the second decode prefetch of a line lands, past the first: <see cref="PrefetchFar"/>, or 0 to
    /// leave it out (it then falls on the first's line, which costs an issue slot but no memory traffic, and no
    /// branch: a branch per line read 50.2-52.6 GB/s in the Q4_0 kernel from cache, one thread, against 52.5-57.0
    /// with the constant and 51.2-58.4 with this field, `bench micro matvec-cpu`, three to six runs each, spread about
    /// ±5 %). Decode steps choose it with the distance (<see cref="PrefetchDistanceTuner"/>): on this project's Zen 5
    /// machine (2026-11-28, session 18; tg128, rounds alternating, with and without it, pairs classed by a cache-line
    /// ping-pong, two loops) leaving it out gained 2-5 % of a token with both vCPUs on one CCD (q4_0 1.032-1.045, q6_k
    /// 1.018-1.034, q4_k_m 1.022-1.048) and lost up to 3 % with them on two (q4_0 1.003, q6_k 0.987, q4_k_m 0.970);
    /// q8_0 lost 8-13 % in both states (0.866-0.871, 0.917).</summary>
    internal static int FarOffset = PrefetchFar;

    /// <summary>The decode prefetch of one line <paramref name="p"/> (already <see cref="PrefetchAhead"/> ahead), and
    /// <see cref="FarOffset"/> further on, both prefetchnta: a decode step reads each weight once and not again
    /// until the next token, by which time some 300 MB have passed through the caches. On this project's Zen 5
    /// machine (2026-11-28; prefetcht0 here and prefetcht1 further on before), tg128 in one process, rounds of both
    /// alternating, each round classed by its own bandwidth probes: q4_0 1.013 with the bus busy (39 rounds) and 1.039
    /// free (100), q6_k 1.027 (52) and 1.015 (71), q8_0 1.032 (64) and 1.090 (24), q4_k_m 0.986 (66) and 1.017 (82);
    /// decode attention's time per token fell by 18-26 µs in the busy rounds of each. F16 and BF16 keep prefetcht0:
    /// the same hint there gave f16 1.023 busy and 1.001 free, bf16 1.025 and 0.988.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrefetchLine(byte* p)
    {
        Sse.PrefetchNonTemporal(p);
        Sse.PrefetchNonTemporal(p + FarOffset);
    }

    private const int BlockBytes = 34;   // Q8_0 weights and activations alike

    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        long rowBytes = (long)(n / 32) * BlockBytes;
        int fullEnd = rowStart + (rowEnd - rowStart) / Rows * Rows;
        for (int r = rowStart; r < fullEnd; r += Rows)
            FourRows(weights + r * rowBytes, rowBytes, activation, n, output + r);
        for (int r = fullEnd; r < rowEnd; r++)
            output[r] = Block32Dot.Dot256<Q8_0Kernels.Blocks, Avx2Int8Dot>(weights + r * rowBytes, activation, n);
    }

    /// <summary>Σ over eight consecutive blocks of one row against the eight preloaded activation vectors y0..y7:
    /// lane k = block k's integer sum, as Dot256 builds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> EightBlocks(byte* w, Vector256<sbyte> y0, Vector256<sbyte> y1, Vector256<sbyte> y2,
        Vector256<sbyte> y3, Vector256<sbyte> y4, Vector256<sbyte> y5, Vector256<sbyte> y6, Vector256<sbyte> y7) =>
        Simd256.SumEach(Block(w, y0), Block(w + BlockBytes, y1), Block(w + 2 * BlockBytes, y2), Block(w + 3 * BlockBytes, y3),
                        Block(w + 4 * BlockBytes, y4), Block(w + 5 * BlockBytes, y5), Block(w + 6 * BlockBytes, y6), Block(w + 7 * BlockBytes, y7));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Block(byte* w, Vector256<sbyte> y) =>
        Simd256.MultiplyAddSigned<Avx2Int8Dot>(Vector256<int>.Zero, Vector256.Load((sbyte*)(w + 2)), y);

    private static void FourRows(byte* w, long rowBytes, byte* a, int n, float* o)
    {
        int blocks = n / 32, b = 0;
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int ahead = PrefetchAhead, groupBytes = 8 * BlockBytes;
        for (; b + 8 <= blocks; b += 8, w0 += groupBytes, w1 += groupBytes, w2 += groupBytes, w3 += groupBytes, a += groupBytes)
        {
            if (ahead > 0)
                for (int p = 0; p < groupBytes; p += 64)
                {
                    PrefetchLine(w0 + ahead + p); PrefetchLine(w1 + ahead + p);
                    PrefetchLine(w2 + ahead + p); PrefetchLine(w3 + ahead + p);
                }
            var y0 = Vector256.Load((sbyte*)(a + 2)); var y1 = Vector256.Load((sbyte*)(a + BlockBytes + 2));
            var y2 = Vector256.Load((sbyte*)(a + 2 * BlockBytes + 2)); var y3 = Vector256.Load((sbyte*)(a + 3 * BlockBytes + 2));
            var y4 = Vector256.Load((sbyte*)(a + 4 * BlockBytes + 2)); var y5 = Vector256.Load((sbyte*)(a + 5 * BlockBytes + 2));
            var y6 = Vector256.Load((sbyte*)(a + 6 * BlockBytes + 2)); var y7 = Vector256.Load((sbyte*)(a + 7 * BlockBytes + 2));
            var activationScales = Simd256.GatherHalves(a, BlockBytes);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks(w0, y0, y1, y2, y3, y4, y5, y6, y7)), Simd256.GatherHalves(w0, BlockBytes) * activationScales, acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks(w1, y0, y1, y2, y3, y4, y5, y6, y7)), Simd256.GatherHalves(w1, BlockBytes) * activationScales, acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks(w2, y0, y1, y2, y3, y4, y5, y6, y7)), Simd256.GatherHalves(w2, BlockBytes) * activationScales, acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(EightBlocks(w3, y0, y1, y2, y3, y4, y5, y6, y7)), Simd256.GatherHalves(w3, BlockBytes) * activationScales, acc3);
        }
        // Dot256's final reduction: lanes summed, + 0 (no offsets), + the tail blocks
        int tail = blocks - b;
        o[0] = Simd256.Sum(acc0) + 0f + Block32Dot.Tail256<Q8_0Kernels.Blocks, Avx2Int8Dot>(w0, a, tail);
        o[1] = Simd256.Sum(acc1) + 0f + Block32Dot.Tail256<Q8_0Kernels.Blocks, Avx2Int8Dot>(w1, a, tail);
        o[2] = Simd256.Sum(acc2) + 0f + Block32Dot.Tail256<Q8_0Kernels.Blocks, Avx2Int8Dot>(w2, a, tail);
        o[3] = Simd256.Sum(acc3) + 0f + Block32Dot.Tail256<Q8_0Kernels.Blocks, Avx2Int8Dot>(w3, a, tail);
    }
}

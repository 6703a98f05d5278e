using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>How four prepared-and-packed rows meet one Q8_K activation row in <see cref="KQuantPackedTile"/>, and
/// the type's part of packing a prepared block (its scales; the values are packed generically).</summary>
internal unsafe interface IPackedFourRows
{
    /// <summary>Rearranges the scales of one prepared block in place for <see cref="FourRows"/>.</summary>
    static abstract void PackScales(byte* preparedBlock);

    /// <summary>Writes the 32-byte tile header of one block from the four packed rows' blocks (rowStride apart).</summary>
    static abstract void PackHeader(byte* preparedBlock, long rowStride, byte* header);

    /// <summary>o[r] = dot(packed row r, a) for r = 0..3; packed rows are rowStride bytes apart, headers 32 bytes
    /// per block, a is one activation in <see cref="KQuantPackedTile"/>'s packed activation layout.</summary>
    static abstract void FourRows(byte* p, long rowStride, byte* headers, int blocks, byte* a, float* o);

    /// <summary><see cref="FourRows"/> for two activations at once (a0 → o0, a1 → o1).</summary>
    static abstract void FourRowsTwice(byte* p, long rowStride, byte* headers, int blocks, byte* a0, byte* a1, float* o0, float* o1);
}

/// <summary>MatMulRows for K-quant weights on the AVX-VNNI rung. Same tiles as <see cref="KQuantTile"/> (four rows
/// prepared once per chunk of activations), but the 32-element pieces are multiplied with vpdpbusd instead of
/// vpmaddubsw + vpdpwssd, which halves the multiply work:
/// <para>The single-row kernel's int32 lane i of a block is Σ_c scale_c(i)·D_c,i, where D_c,i is the dot of bytes
/// 4i..4i+3 of 32-element piece c. A piece-pair (c, c+1) is packed as unpacklo32 / unpackhi32 of the two pieces
/// (weights here, activations on the fly); vpdpbusd of each half gives D_c,i and D_c+1,i in adjacent lanes, and
/// vpackssdw of the two results (its in-lane order mirrors the unpacks) leaves the int16 pair (D_c,i, D_c+1,i) in
/// int32 lane i. One vpdpwssd with the scale pair (scale_c(i), scale_c+1(i)) then adds exactly the single-row
/// kernel's two contributions to lane i. |D| ≤ 4·63·128 &lt; 2^15 for every K-quant (values ≤ 63), so the pack
/// never saturates, and all integer lane sums, hence all fp32 steps, are those of the single-row dot.</para>
/// Per 64 elements and row: 2 vpdpbusd + 1 vpdpwssd (+ 1 vpackssdw on port 5) instead of 2 vpmaddubsw + 2 vpdpwssd.</summary>
internal static unsafe class KQuantPackedTile
{
    private const int Rows = 4;
    private const int MinBatch = 2;

    /// <summary>Activations per pass over the row tiles: each pass prepares and packs every row tile again, so a longer
    /// pass spends less on that. 128 packed activations are 176 KiB at n = 1024 and 484 KiB at 2816, in L2 (2 MiB
    /// here). Measured against 64 (one thread, batch 512, the six alternating rounds' best; same outputs):
    /// Q4_K 2816 × 1024 +1.0 % / +0.7 %, 1024 × 2816 +4.7 % / +4.0 %; Q6_K +2.6 % / +1.5 % and +4.8 % / +4.7 % in two
    /// runs. 256 was no better. Block32Tile and FloatTile keep 64 (at 128 the Q8_0 tile lost 17 % at n = 2816); the
    /// AVX2 rung's <see cref="KQuantTile"/> keeps 64 unmeasured (this machine runs the AVX-VNNI rung).</summary>
    private const int Chunk = 128;

    [ThreadStatic] private static byte[]? scratch;

    /// <summary>A packed activation block: the four piece pairs (unpacklo32 / unpackhi32 of pieces 2p, 2p+1 at 64p,
    /// 64p + 32), the raw int16 bsums, their pair sums as fp32 (lane i = bsum_2i + bsum_2i+1), then d_a.</summary>
    public const int ActBsumsAt = 256, ActPairSumsAt = 288, ActDAt = 320, ActBlockBytes = 352;

    public static void MatMul<TKernel, TRows>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                              float* output, int outputStride) where TKernel : IKQuantTile where TRows : IPackedFourRows
    {
        int blocks = n / 256;
        long rowBytes = (long)blocks * TKernel.WeightBlockBytes, actBytes = (long)blocks * BlockBytes;
        int fullEnd = batch >= MinBatch ? rowStart + (rowEnd - rowStart) / Rows * Rows : rowStart;
        if (fullEnd > rowStart)
        {
            long preparedRow = (long)blocks * TKernel.PreparedBlockBytes, packedAct = (long)blocks * ActBlockBytes;
            long headersAt = Rows * preparedRow, actsAt = headersAt + blocks * 32L, size = actsAt + Chunk * packedAct + 32;
            var buffer = scratch;
            if (buffer == null || buffer.Length < size) scratch = buffer = new byte[size];
            fixed (byte* raw = buffer)
            {
                byte* prepared = (byte*)(((nint)raw + 31) & ~(nint)31), headers = prepared + headersAt, acts = prepared + actsAt;
                for (int first = 0; first < batch; first += Chunk)
                {
                    int count = Math.Min(Chunk, batch - first);
                    for (int b = 0; b < count; b++)
                        for (int k = 0; k < blocks; k++)
                            PackActivation(activations + (first + b) * actBytes + k * BlockBytes, acts + b * packedAct + k * ActBlockBytes);
                    for (int tile = rowStart; tile < fullEnd; tile += Rows)
                    {
                        for (int r = 0; r < Rows; r++)
                        {
                            byte* w = weights + (tile + r) * rowBytes;
                            for (int k = 0; k < blocks; k++)
                            {
                                byte* dst = prepared + r * preparedRow + k * TKernel.PreparedBlockBytes;
                                TKernel.Prepare(w + k * TKernel.WeightBlockBytes, dst);
                                PackValues(dst);
                                TRows.PackScales(dst);
                            }
                        }
                        for (int k = 0; k < blocks; k++)
                            TRows.PackHeader(prepared + k * TKernel.PreparedBlockBytes, preparedRow, headers + 32 * k);
                        int b = 0;
                        for (; b + 1 < count; b += 2)
                            TRows.FourRowsTwice(prepared, preparedRow, headers, blocks, acts + b * packedAct, acts + (b + 1) * packedAct,
                                                output + (long)(first + b) * outputStride + tile, output + (long)(first + b + 1) * outputStride + tile);
                        for (; b < count; b++)
                            TRows.FourRows(prepared, preparedRow, headers, blocks, acts + b * packedAct, output + (long)(first + b) * outputStride + tile);
                    }
                }
            }
        }
        for (int b = 0; b < batch; b++)
            for (int r = fullEnd; r < rowEnd; r++)
                output[(long)b * outputStride + r] = TKernel.Dot(weights + r * rowBytes, activations + b * actBytes, n);
    }

    /// <summary>One Q8_K block into the packed activation layout (once per activation and chunk, for all row tiles).</summary>
    private static void PackActivation(byte* a, byte* dst)
    {
        byte* y = a + QuantsOffset;
        for (int p = 0; p < 4; p++)
        {
            var even = Vector256.Load((int*)(y + 64 * p));
            var odd = Vector256.Load((int*)(y + 64 * p + 32));
            Avx2.UnpackLow(even, odd).Store((int*)(dst + 64 * p));
            Avx2.UnpackHigh(even, odd).Store((int*)(dst + 64 * p + 32));
        }
        var bsums = Vector256.Load((short*)(a + SumsOffset));
        bsums.Store((short*)(dst + ActBsumsAt));
        Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(bsums, Vector256.Create((short)1))).Store((float*)(dst + ActPairSumsAt));
        *(float*)(dst + ActDAt) = *(float*)a;
    }

    /// <summary>The eight 32-byte value pieces of a prepared block (piece c at 32c) become four packed pairs:
    /// unpacklo32(c, c+1) at 64p, unpackhi32(c, c+1) at 64p + 32, for c = 2p.</summary>
    private static void PackValues(byte* block)
    {
        for (int p = 0; p < 4; p++)
        {
            var even = Vector256.Load((int*)(block + 64 * p));
            var odd = Vector256.Load((int*)(block + 64 * p + 32));
            Avx2.UnpackLow(even, odd).Store((int*)(block + 64 * p));
            Avx2.UnpackHigh(even, odd).Store((int*)(block + 64 * p + 32));
        }
    }

    /// <summary>The int32 lanes i of Σ over the piece pair p of scale·D: (D_c,i, D_c+1,i) packed as int16 pairs,
    /// times the scale pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> PairDot(Vector256<int> acc, byte* packedPair, Vector256<sbyte> yLow, Vector256<sbyte> yHigh, Vector256<short> scales)
    {
        var x = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(packedPair), yLow);
        var z = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(packedPair + 32), yHigh);
        return AvxVnni.MultiplyWideningAndAdd(acc, Avx2.PackSignedSaturate(x, z), scales);
    }

    /// <summary><see cref="PairDot"/> of one packed weight pair with two activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector256<int>, Vector256<int>) PairDotTwice(Vector256<int> acc0, Vector256<int> acc1, byte* packedPair,
        Vector256<sbyte> yLow0, Vector256<sbyte> yHigh0, Vector256<sbyte> yLow1, Vector256<sbyte> yHigh1, Vector256<short> scales)
    {
        var w0 = Vector256.Load(packedPair);
        var w1 = Vector256.Load(packedPair + 32);
        var x0 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w0, yLow0);
        var z0 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w1, yHigh0);
        var x1 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w0, yLow1);
        var z1 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, w1, yHigh1);
        return (AvxVnni.MultiplyWideningAndAdd(acc0, Avx2.PackSignedSaturate(x0, z0), scales),
                AvxVnni.MultiplyWideningAndAdd(acc1, Avx2.PackSignedSaturate(x1, z1), scales));
    }

    /// <summary>Q4_K and Q5_K (<see cref="Q4_KKernels.Tile"/>'s prepared block): the eight int16 scales at ScalesAt
    /// already are, read as int32, the four scale pairs (scale_2p, scale_2p+1). The end of block is Dot256's two
    /// fused steps with cheaper operands: the min term's lane i, m_i·(bsum_2i + bsum_2i+1) (exact in int32 and in
    /// fp32, &lt; 2^24), is the fp32 product of the mins (converted once here) and the pair sums of bsums (converted
    /// once per activation block for all four rows), and the products d_a·d, d_a·(-dmin) are vector multiplies of
    /// d_a by the row's d and -dmin, the same IEEE products as Dot256's scalar ones.</summary>
    internal readonly struct ScalePerPiece : IPackedFourRows
    {
        private const int Stride = 352, ScalesAt = Q4_KKernels.Tile.ScalesAt, MinsAt = Q4_KKernels.Tile.MinsAt;
        private const int DAt = Q4_KKernels.Tile.DAt, NegDminAt = Q4_KKernels.Tile.DminAt;

        /// <summary>int16 mins (m_i at word 2i) become fp32 m_i; dmin becomes -dmin.</summary>
        public static void PackScales(byte* preparedBlock)
        {
            var mins = Vector256.Load((int*)(preparedBlock + MinsAt)) & Vector256.Create(0xFFFF);
            Avx.ConvertToVector256Single(mins).Store((float*)(preparedBlock + MinsAt));
            *(float*)(preparedBlock + NegDminAt) = -*(float*)(preparedBlock + NegDminAt);
        }

        /// <summary>Header: d of the four rows, then their -dmin; one multiply by d_a makes all eight products.</summary>
        public static void PackHeader(byte* preparedBlock, long rowStride, byte* header)
        {
            for (int r = 0; r < 4; r++)
            {
                ((float*)header)[r] = *(float*)(preparedBlock + r * rowStride + DAt);
                ((float*)header)[4 + r] = *(float*)(preparedBlock + r * rowStride + NegDminAt);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<short> ScalePair(byte* p, int pair) => Vector256.Create(((int*)(p + ScalesAt))[pair]).AsInt16();

        /// <summary>Dot256's two fused steps; products[r] = d_a·d, products[4 + r] = d_a·(-dmin) of this row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<float> pairSums, float* products, byte* p)
        {
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(products[0]), acc);
            return Fma.MultiplyAdd(Vector256.Load((float*)(p + MinsAt)) * pairSums, Vector256.Create(products[4]), acc);
        }

        /// <summary>A 4 rows × 2 activations register block: each weight vector and scale pair is loaded once for
        /// both activations; every output's operations are those of <see cref="FourRows"/>.</summary>
        public static void FourRowsTwice(byte* p, long rowStride, byte* headers, int blocks, byte* a0, byte* a1, float* o0, float* o1)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            Vector256<float> acc4 = default, acc5 = default, acc6 = default, acc7 = default;
            byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
            float* products = stackalloc float[16];
            for (int b = 0; b < blocks; b++, a0 += ActBlockBytes, a1 += ActBlockBytes)
            {
                int off = b * Stride;
                Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                Vector256<int> s4 = default, s5 = default, s6 = default, s7 = default;
                for (int pair = 0; pair < 4; pair++)
                {
                    var yLow0 = Vector256.Load((sbyte*)(a0 + 64 * pair));
                    var yHigh0 = Vector256.Load((sbyte*)(a0 + 64 * pair + 32));
                    var yLow1 = Vector256.Load((sbyte*)(a1 + 64 * pair));
                    var yHigh1 = Vector256.Load((sbyte*)(a1 + 64 * pair + 32));
                    int q = off + 64 * pair;
                    (s0, s4) = PairDotTwice(s0, s4, p + q, yLow0, yHigh0, yLow1, yHigh1, ScalePair(p + off, pair));
                    (s1, s5) = PairDotTwice(s1, s5, p1 + q, yLow0, yHigh0, yLow1, yHigh1, ScalePair(p1 + off, pair));
                    (s2, s6) = PairDotTwice(s2, s6, p2 + q, yLow0, yHigh0, yLow1, yHigh1, ScalePair(p2 + off, pair));
                    (s3, s7) = PairDotTwice(s3, s7, p3 + q, yLow0, yHigh0, yLow1, yHigh1, ScalePair(p3 + off, pair));
                }
                var header = Vector256.Load((float*)(headers + 32 * b));
                (header * Vector256.Create(*(float*)(a0 + ActDAt))).Store(products);
                (header * Vector256.Create(*(float*)(a1 + ActDAt))).Store(products + 8);
                var pairSums0 = Vector256.Load((float*)(a0 + ActPairSumsAt));
                var pairSums1 = Vector256.Load((float*)(a1 + ActPairSumsAt));
                acc0 = Finish(acc0, s0, pairSums0, products, p + off);
                acc1 = Finish(acc1, s1, pairSums0, products + 1, p1 + off);
                acc2 = Finish(acc2, s2, pairSums0, products + 2, p2 + off);
                acc3 = Finish(acc3, s3, pairSums0, products + 3, p3 + off);
                acc4 = Finish(acc4, s4, pairSums1, products + 8, p + off);
                acc5 = Finish(acc5, s5, pairSums1, products + 9, p1 + off);
                acc6 = Finish(acc6, s6, pairSums1, products + 10, p2 + off);
                acc7 = Finish(acc7, s7, pairSums1, products + 11, p3 + off);
            }
            o0[0] = Simd.Simd256.Sum(acc0);
            o0[1] = Simd.Simd256.Sum(acc1);
            o0[2] = Simd.Simd256.Sum(acc2);
            o0[3] = Simd.Simd256.Sum(acc3);
            o1[0] = Simd.Simd256.Sum(acc4);
            o1[1] = Simd.Simd256.Sum(acc5);
            o1[2] = Simd.Simd256.Sum(acc6);
            o1[3] = Simd.Simd256.Sum(acc7);
        }

        public static void FourRows(byte* p, long rowStride, byte* headers, int blocks, byte* a, float* o)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
            float* products = stackalloc float[8];
            for (int b = 0; b < blocks; b++, a += ActBlockBytes)
            {
                int off = b * Stride;
                Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int pair = 0; pair < 4; pair++)
                {
                    var yLow = Vector256.Load((sbyte*)(a + 64 * pair));
                    var yHigh = Vector256.Load((sbyte*)(a + 64 * pair + 32));
                    int q = off + 64 * pair;
                    s0 = PairDot(s0, p + q, yLow, yHigh, ScalePair(p + off, pair));
                    s1 = PairDot(s1, p1 + q, yLow, yHigh, ScalePair(p1 + off, pair));
                    s2 = PairDot(s2, p2 + q, yLow, yHigh, ScalePair(p2 + off, pair));
                    s3 = PairDot(s3, p3 + q, yLow, yHigh, ScalePair(p3 + off, pair));
                }
                (Vector256.Load((float*)(headers + 32 * b)) * Vector256.Create(*(float*)(a + ActDAt))).Store(products);
                var pairSums = Vector256.Load((float*)(a + ActPairSumsAt));
                acc0 = Finish(acc0, s0, pairSums, products, p + off);
                acc1 = Finish(acc1, s1, pairSums, products + 1, p1 + off);
                acc2 = Finish(acc2, s2, pairSums, products + 2, p2 + off);
                acc3 = Finish(acc3, s3, pairSums, products + 3, p3 + off);
            }
            o[0] = Simd.Simd256.Sum(acc0);
            o[1] = Simd.Simd256.Sum(acc1);
            o[2] = Simd.Simd256.Sum(acc2);
            o[3] = Simd.Simd256.Sum(acc3);
        }
    }

    /// <summary>Q2_K, Q3_K, Q6_K (<see cref="KQuantTile"/>'s pair-scaled block): the int16 scale vectors of pieces
    /// c and c+1 (each int32 lane a pair of equal scales) merge into one: low words from c, high words from c+1.</summary>
    internal readonly struct PairScaled<TFinish> : IPackedFourRows where TFinish : IPackedBlockFinish
    {
        private const int Stride = KQuantTile.PairScaledBlockBytes, ScalesAt = KQuantTile.PairScalesAt;

        public static void PackScales(byte* preparedBlock)
        {
            short* s = (short*)(preparedBlock + ScalesAt);
            for (int p = 0; p < 4; p++)
            {
                var even = Vector256.Load(s + 32 * p);
                var odd = Vector256.Load(s + 32 * p + 16);
                Avx2.Blend(even, odd, 0xAA).Store(s + 16 * p);
            }
            TFinish.PackCorrection(preparedBlock);
        }

        /// <summary>Header: d of the four rows (one multiply by d_a then makes the four products).</summary>
        public static void PackHeader(byte* preparedBlock, long rowStride, byte* header)
        {
            for (int r = 0; r < 4; r++)
            {
                ((float*)header)[r] = *(float*)(preparedBlock + r * rowStride + KQuantTile.DAt);
                ((float*)header)[4 + r] = 0;
            }
        }

        /// <summary>A 4 rows × 2 activations register block, each output computed as in <see cref="FourRows"/>.</summary>
        public static void FourRowsTwice(byte* p, long rowStride, byte* headers, int blocks, byte* a0, byte* a1, float* o0, float* o1)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            Vector256<float> acc4 = default, acc5 = default, acc6 = default, acc7 = default;
            byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
            float* products = stackalloc float[16];
            for (int b = 0; b < blocks; b++, a0 += ActBlockBytes, a1 += ActBlockBytes)
            {
                int off = b * Stride;
                Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                Vector256<int> s4 = default, s5 = default, s6 = default, s7 = default;
                for (int pair = 0; pair < 4; pair++)
                {
                    var yLow0 = Vector256.Load((sbyte*)(a0 + 64 * pair));
                    var yHigh0 = Vector256.Load((sbyte*)(a0 + 64 * pair + 32));
                    var yLow1 = Vector256.Load((sbyte*)(a1 + 64 * pair));
                    var yHigh1 = Vector256.Load((sbyte*)(a1 + 64 * pair + 32));
                    int q = off + 64 * pair, sc = off + ScalesAt + 32 * pair;
                    (s0, s4) = PairDotTwice(s0, s4, p + q, yLow0, yHigh0, yLow1, yHigh1, Vector256.Load((short*)(p + sc)));
                    (s1, s5) = PairDotTwice(s1, s5, p1 + q, yLow0, yHigh0, yLow1, yHigh1, Vector256.Load((short*)(p1 + sc)));
                    (s2, s6) = PairDotTwice(s2, s6, p2 + q, yLow0, yHigh0, yLow1, yHigh1, Vector256.Load((short*)(p2 + sc)));
                    (s3, s7) = PairDotTwice(s3, s7, p3 + q, yLow0, yHigh0, yLow1, yHigh1, Vector256.Load((short*)(p3 + sc)));
                }
                float da0 = *(float*)(a0 + ActDAt), da1 = *(float*)(a1 + ActDAt);
                var header = Vector256.Load((float*)(headers + 32 * b));
                (header * Vector256.Create(da0)).Store(products);
                (header * Vector256.Create(da1)).Store(products + 8);
                var bsums0 = Vector256.Load((short*)(a0 + ActBsumsAt));
                var bsums1 = Vector256.Load((short*)(a1 + ActBsumsAt));
                acc0 = TFinish.Finish(acc0, s0, bsums0, da0, products, p + off);
                acc1 = TFinish.Finish(acc1, s1, bsums0, da0, products + 1, p1 + off);
                acc2 = TFinish.Finish(acc2, s2, bsums0, da0, products + 2, p2 + off);
                acc3 = TFinish.Finish(acc3, s3, bsums0, da0, products + 3, p3 + off);
                acc4 = TFinish.Finish(acc4, s4, bsums1, da1, products + 8, p + off);
                acc5 = TFinish.Finish(acc5, s5, bsums1, da1, products + 9, p1 + off);
                acc6 = TFinish.Finish(acc6, s6, bsums1, da1, products + 10, p2 + off);
                acc7 = TFinish.Finish(acc7, s7, bsums1, da1, products + 11, p3 + off);
            }
            o0[0] = Simd.Simd256.Sum(acc0);
            o0[1] = Simd.Simd256.Sum(acc1);
            o0[2] = Simd.Simd256.Sum(acc2);
            o0[3] = Simd.Simd256.Sum(acc3);
            o1[0] = Simd.Simd256.Sum(acc4);
            o1[1] = Simd.Simd256.Sum(acc5);
            o1[2] = Simd.Simd256.Sum(acc6);
            o1[3] = Simd.Simd256.Sum(acc7);
        }

        public static void FourRows(byte* p, long rowStride, byte* headers, int blocks, byte* a, float* o)
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
            float* products = stackalloc float[8];
            for (int b = 0; b < blocks; b++, a += ActBlockBytes)
            {
                int off = b * Stride;
                Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int pair = 0; pair < 4; pair++)
                {
                    var yLow = Vector256.Load((sbyte*)(a + 64 * pair));
                    var yHigh = Vector256.Load((sbyte*)(a + 64 * pair + 32));
                    int q = off + 64 * pair, sc = off + ScalesAt + 32 * pair;
                    s0 = PairDot(s0, p + q, yLow, yHigh, Vector256.Load((short*)(p + sc)));
                    s1 = PairDot(s1, p1 + q, yLow, yHigh, Vector256.Load((short*)(p1 + sc)));
                    s2 = PairDot(s2, p2 + q, yLow, yHigh, Vector256.Load((short*)(p2 + sc)));
                    s3 = PairDot(s3, p3 + q, yLow, yHigh, Vector256.Load((short*)(p3 + sc)));
                }
                float da = *(float*)(a + ActDAt);
                (Vector256.Load((float*)(headers + 32 * b)) * Vector256.Create(da)).Store(products);
                var bsums = Vector256.Load((short*)(a + ActBsumsAt));
                acc0 = TFinish.Finish(acc0, s0, bsums, da, products, p + off);
                acc1 = TFinish.Finish(acc1, s1, bsums, da, products + 1, p1 + off);
                acc2 = TFinish.Finish(acc2, s2, bsums, da, products + 2, p2 + off);
                acc3 = TFinish.Finish(acc3, s3, bsums, da, products + 3, p3 + off);
            }
            o[0] = Simd.Simd256.Sum(acc0);
            o[1] = Simd.Simd256.Sum(acc1);
            o[2] = Simd.Simd256.Sum(acc2);
            o[3] = Simd.Simd256.Sum(acc3);
        }
    }

    /// <summary>Q2_K's end of block, unchanged: its own <see cref="IBlockFinish"/> (which forms d_a·d itself).</summary>
    internal readonly struct UnchangedFinish<TFinish> : IPackedBlockFinish where TFinish : IBlockFinish
    {
        public static void PackCorrection(byte* preparedBlock) { }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, float* daD, byte* p) =>
            TFinish.Finish(acc, sumi, bsums, da, p);
    }

    /// <summary>Q6_K's end of block (Dot256: sumi -= Correction(bsums) &lt;&lt; 5, then + sumi·(d_a·d)) with the
    /// correction scales stored ×32 (|32·scale| ≤ 4096 fits int16; the vpmaddwd sums stay far below 2^31, so the
    /// product is the shifted one exactly) and d_a·d from the tile's products.</summary>
    internal readonly struct Q6_KFinish : IPackedBlockFinish
    {
        public static void PackCorrection(byte* preparedBlock) => ScaleCorrection(preparedBlock, 5);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, float* daD, byte* p) =>
            CorrectedFinish(acc, sumi, bsums, daD, p);
    }

    /// <summary>Q3_K's end of block, as <see cref="Q6_KFinish"/> with its offset 4 (shift 2).</summary>
    internal readonly struct Q3_KFinish : IPackedBlockFinish
    {
        public static void PackCorrection(byte* preparedBlock) => ScaleCorrection(preparedBlock, 2);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, float* daD, byte* p) =>
            CorrectedFinish(acc, sumi, bsums, daD, p);
    }

    private static void ScaleCorrection(byte* preparedBlock, int shift)
    {
        short* c = (short*)(preparedBlock + KQuantTile.CorrectionAt);
        (Vector256.Load(c) << shift).Store(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> CorrectedFinish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float* daD, byte* p) =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi - KQuantTile.Correction(bsums, p)), Vector256.Create(*daD), acc);
}

/// <summary>A pair-scaled type's end of block for <see cref="KQuantPackedTile.PairScaled{TFinish}"/>: its part of
/// packing (the offset correction), and the finish with d_a·d already formed (daD) by the tile.</summary>
internal unsafe interface IPackedBlockFinish
{
    static abstract void PackCorrection(byte* preparedBlock);
    static abstract Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, float* daD, byte* p);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for Q4_K on the Vector256 rungs (TScaled: vpmaddwd + vpaddd on AVX2,
/// vpdpwssd on AVX-VNNI). <see cref="Q4_KKernels.Dot256"/> spends about half of its instructions per super-block
/// outside the byte dots: the 6-bit scales unpacked with scalar operations, eight scalar byte extracts each
/// broadcast by a vpbroadcastw, the mins widened through three more instructions and two branchy fp16
/// conversions. Here, per row and super-block:
/// <list type="bullet">
/// <item>The 12 packed bytes become [sc0..sc7 | m0..m7] in both 128-bit halves with nine vector operations on one
/// 16-byte broadcast load (<see cref="ScalesAndMins"/>); one vpshufb spreads the scales to int32 lanes
/// sc·0x10001, stored to the stack, so that each sub-block's scale vector is a broadcast load on a load port
/// instead of a vpshufb on the ports the nibble shifts and byte dots need (no difference measurable on the shared
/// test machine, 8 shuffles vs 1 per super-block), and one more repeats the mins for the 16-element bsums.</item>
/// <item>The four rows' d and dmin are converted together by one exact vector conversion (no fp32 subnormal, see
/// <see cref="ScaleProducts"/>) and multiplied by d_a as in the single-row dot; the eight products go through the
/// stack, so that each row's broadcast is a load. A running OR of the fp16 exponents sends a row with an infinity
/// or NaN d/dmin to the single-row dot.</item>
/// <item>sumi is summed as four chains of two vpdpwssd (vpmaddwd) instead of one chain of eight: these take five
/// cycles each (measured ≈ 10 % faster on 2816 × 1024).</item>
/// <item>Four rows per pass share each super-block's activation scale and bsums load and give the core four
/// independent rows; rows are prefetched at least one tile ahead (151936 × 1024 from DRAM: ×1.7 against no
/// prefetch; no cost on cache-resident matrices).</item>
/// </list>
/// The byte dots, the int32 lanes of sumi, the two fused multiply-adds per super-block and the final
/// <see cref="Simd256.Sum"/> are Dot256's, so every output is bit-identical to it (Q4_KDecodeTests).</summary>
internal static unsafe class Q4_KRows<TScaled> where TScaled : IScaledDotAdd
{
    private const int Block = 144;

    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block;
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
            FourRows(weights + r * rowBytes, rowBytes, blocks, activation, output + r, n);
        for (; r < rowEnd; r++)
            output[r] = Q4_KKernels.Dot256(weights + r * rowBytes, activation, n);
    }

    [SkipLocalsInit]   // the stack scratch is stored before every load from it
    private static void FourRows(byte* w0, long rowBytes, int blocks, byte* a, float* o, int n)
    {
        byte* w1 = w0 + rowBytes, w2 = w0 + 2 * rowBytes, w3 = w0 + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var guard = Vector128<int>.Zero;
        long ahead = Block32Rows.TileAhead(rowBytes);
        // stack scratch, 32-byte aligned so that no store splits a line: the four rows' d·d_a (lanes 0..3) and
        // -dmin·d_a (lanes 4..7) of the current super-block, then each row's eight scales as int32 sc·0x10001; each
        // is broadcast to a vector by a load, which needs no shuffle port
        byte* scratch = stackalloc byte[5 * 32 + 32];
        float* products = (float*)(((nint)scratch + 31) & ~(nint)31);
        int* scales = (int*)(products + 8);
        for (int b = 0; b < blocks; b++, a += BlockBytes, w0 += Block, w1 += Block, w2 += Block, w3 += Block)
        {
            Block32Rows.PrefetchBlockDecode(w0, ahead, Block); Block32Rows.PrefetchBlockDecode(w1, ahead, Block);
            Block32Rows.PrefetchBlockDecode(w2, ahead, Block); Block32Rows.PrefetchBlockDecode(w3, ahead, Block);
            float da = *(float*)a;
            var halves = Vector128.Create(*(int*)w0, *(int*)w1, *(int*)w2, *(int*)w3);
            guard |= (halves & Vector128.Create(0x7C00_7C00)) + Vector128.Create(0x0400_0400);
            ScaleProducts(halves, da).Store(products);
            var bsums = Vector256.Load((short*)(a + SumsOffset));
            sbyte* y = (sbyte*)(a + QuantsOffset);
            acc0 = SuperBlock(w0, y, bsums, products, scales, acc0);
            acc1 = SuperBlock(w1, y, bsums, products + 1, scales + 8, acc1);
            acc2 = SuperBlock(w2, y, bsums, products + 2, scales + 16, acc2);
            acc3 = SuperBlock(w3, y, bsums, products + 3, scales + 24, acc3);
        }
        long back = (long)blocks * Block;
        byte* a0 = a - (long)blocks * BlockBytes;
        o[0] = Finish(acc0, guard.GetElement(0), w0 - back, a0, n);
        o[1] = Finish(acc1, guard.GetElement(1), w1 - back, a0, n);
        o[2] = Finish(acc2, guard.GetElement(2), w2 - back, a0, n);
        o[3] = Finish(acc3, guard.GetElement(3), w3 - back, a0, n);
    }

    /// <summary>Lanes 0..3: d_a·d of the four rows, lanes 4..7: -(d_a·dmin), each rounded once as in Dot256
    /// (-(d_a·dmin) = dmin·(-d_a) exactly: rounding is symmetric). The fp16 d (low half of each row's word) and dmin
    /// (high half) are converted exactly by <see cref="Fp16.ToSingle(Vector256{uint})"/>, which never forms an fp32
    /// subnormal: the w·2^-112 trick of PairedRows would, for an fp16-subnormal d or dmin (weights of small spread),
    /// and a multiply that reads one takes a microcode assist (Q6_KRows measured it at 5 GB/s in a real decode).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ScaleProducts(Vector128<int> halves, float da)
    {
        var both = Vector256.Create(halves, halves).AsUInt32();
        var split = Avx2.ShiftRightLogicalVariable(both, Vector256.Create(0u, 0, 0, 0, 16, 16, 16, 16)) & Vector256.Create(0xFFFFu);
        return Fp16.ToSingle(split) * Vector256.Create(Vector128.Create(da), Vector128.Create(-da));
    }

    /// <summary>Dot256's end (lanes summed), or the whole row by Dot256 when a d or dmin was an infinity or NaN
    /// (guard bit 15 or 31: that half's exponent field was all ones).</summary>
    private static float Finish(Vector256<float> acc, int guard, byte* w, byte* a, int n) =>
        (guard & unchecked((int)0x8000_8000)) != 0 ? Q4_KKernels.Dot256(w, a, n) : Simd256.Sum(acc);

    /// <summary>One row's super-block: Dot256's sumi (same byte dots, same scale per int32 lane) and its two fused
    /// steps, acc + sumi·(d_a·d) (products[0]), then + minTerms·-(d_a·dmin) (products[4]). The eight scales go
    /// through the row's scratch slot as int32 sc·0x10001, the int16 pair (sc, sc) that vpmaddwd / vpdpwssd wants in
    /// every lane, so each sub-block's scale vector is a broadcast load instead of a shuffle.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SuperBlock(byte* w, sbyte* y, Vector256<short> bsums, float* products, int* scales, Vector256<float> acc)
    {
        var sm = ScalesAndMins(w + 4);
        Avx2.Shuffle(sm, Vector256.Create(0x8001_8001_8000_8000UL, 0x8003_8003_8002_8002UL, 0x8005_8005_8004_8004UL, 0x8007_8007_8006_8006UL).AsByte()).Store((byte*)scales);
        // four short chains instead of one of eight: a vpdpwssd (vpmaddwd) takes five cycles, the adds one; the
        // integer sums are exact in any order
        var sumi = (Chunk(w, y, scales, 0) + Chunk(w, y, scales, 1)) + (Chunk(w, y, scales, 2) + Chunk(w, y, scales, 3));
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Avx.BroadcastScalarToVector256(products), acc);
        var mins = Avx2.Shuffle(sm, Vector256.Create(0x8009_8009_8008_8008UL, 0x800B_800B_800A_800AUL, 0x800D_800D_800C_800CUL, 0x800F_800F_800E_800EUL).AsByte());
        var minTerms = Avx2.MultiplyAddAdjacent(bsums, mins.AsInt16());
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(minTerms), Avx.BroadcastScalarToVector256(products + 4), acc);
    }

    /// <summary>64-element chunk j: low nibbles against activations 64j..64j+31 with scale 2j, high nibbles against
    /// the next 32 with scale 2j+1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(byte* w, sbyte* y, int* scales, int j)
    {
        var q = Vector256.Load(w + 16 + 32 * j);
        var sumi = TScaled.Add(Vector256<int>.Zero, q & Vector256.Create((byte)0x0F), Vector256.Load(y + 64 * j), Avx2.BroadcastScalarToVector256(scales + 2 * j).AsInt16());
        return TScaled.Add(sumi, Simd256.Bits(q, 4, 0x0F), Vector256.Load(y + 64 * j + 32), Avx2.BroadcastScalarToVector256(scales + 2 * j + 1).AsInt16());
    }

    /// <summary>The 12 packed bytes p0..p11 (see <see cref="KQuantScales.UnpackScaleMin"/>) as bytes
    /// [sc0..sc7 | m0..m7] in both 128-bit halves: one shuffle gathers [p0..p3 | p8..p11 | p4..p7 | p8..p11], whose
    /// low 6 bits are sc0..3 and m0..3, low nibbles the low bits of sc4..7, high nibbles those of m4..7; a second
    /// shuffle puts p0..p3 under sc4..7 and p4..p7 under m4..7, whose top two bits are their bits 4..5.
    /// 16-bit shifts are safe: each mask keeps bits that came from the byte itself.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> ScalesAndMins(byte* packed)
    {
        var p = Avx2.BroadcastVector128ToVector256(packed);
        var lowBits = Avx2.Shuffle(p, Vector256.Create(0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL, 0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL).AsByte());
        var topBits = Avx2.Shuffle(p, Vector256.Create(0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL, 0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL).AsByte());
        return (lowBits & Vector256.Create(0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL, 0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL).AsByte())
             | ((lowBits.AsUInt16() >>> 4).AsByte() & Vector256.Create(0UL, 0x0F0F_0F0F_0000_0000UL, 0UL, 0x0F0F_0F0F_0000_0000UL).AsByte())
             | Simd256.Bits(topBits, 2, 0x30);
    }
}

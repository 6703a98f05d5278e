using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A K-quant super-block as <see cref="KQuantSmallBatch"/> holds it in registers: its type's part of the
/// single-row Dot256, split into what is unpacked once per row block and what is done per activation.</summary>
internal unsafe interface ISmallBatchBlock
{
    /// <summary>Bytes of one weight super-block (256 values).</summary>
    static abstract int Bytes { get; }

    /// <summary>The eight 32-element pieces as unsigned values in Dot256's piece order (u_k against activation bytes
    /// 32k..32k+31), their int16 scale vectors, the per-16-element correction multipliers that Finish applies to
    /// the Q8_K block sums, and d, dmin (0 where the type has none).</summary>
    static abstract void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin);

    /// <summary>Dot256's end of block for one activation block a: the integer sums sumi, the offset terms through a's
    /// block sums, the fp32 products with d_a and the fused steps into acc.</summary>
    static abstract Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc);
}

/// <summary>Q4_K: value = d·sc·q - dmin·m, q the nibbles of qs (piece 2j: low nibbles of qs[32j..], 2j + 1: high).</summary>
internal readonly unsafe struct Q4_KSmallBatchBlock : ISmallBatchBlock
{
    public static int Bytes => 144;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin)
    {
        // scalars first: Fp16.ToSingle's rare path is a call, and vectors live across it would spill
        d = Fp16.ToSingle(w);
        dmin = Fp16.ToSingle(w + 2);
        KQuantSmallBatchBlocks.ScalesAndMins(w + 4, out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7, out correction);
        KQuantSmallBatchBlocks.Nibbles(w + 16, out u0, out u1, out u2, out u3, out u4, out u5, out u6, out u7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc) =>
        KQuantSmallBatchBlocks.FinishWithMins(sumi, a, correction, d, dmin, acc);
}

/// <summary>Q5_K: Q4_K's scales and nibbles (qs at 48) plus a fifth bit, bit k of qh[l] for element l of piece k.</summary>
internal readonly unsafe struct Q5_KSmallBatchBlock : ISmallBatchBlock
{
    public static int Bytes => 176;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin)
    {
        d = Fp16.ToSingle(w);
        dmin = Fp16.ToSingle(w + 2);
        KQuantSmallBatchBlocks.ScalesAndMins(w + 4, out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7, out correction);
        KQuantSmallBatchBlocks.Nibbles(w + 48, out u0, out u1, out u2, out u3, out u4, out u5, out u6, out u7);
        var qh = Vector256.Load(w + 16);
        u0 |= FifthBit(qh, 0); u1 |= FifthBit(qh, 1); u2 |= FifthBit(qh, 2); u3 |= FifthBit(qh, 3);
        u4 |= FifthBit(qh, 4); u5 |= FifthBit(qh, 5); u6 |= FifthBit(qh, 6); u7 |= FifthBit(qh, 7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FifthBit(Vector256<byte> qh, int k) => Simd256.ShiftLeftInBytes(Simd256.Bits(qh, k, 1), 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc) =>
        KQuantSmallBatchBlocks.FinishWithMins(sumi, a, correction, d, dmin, acc);
}

/// <summary>Q6_K (ql[128], qh[64], int8 scales[16], fp16 d): unsigned q in 0..63, value = d·sc·(q - 32); the -32
/// comes back as 32·Σ sc·bsum per block.</summary>
internal readonly unsafe struct Q6_KSmallBatchBlock : ISmallBatchBlock
{
    public static int Bytes => 210;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin)
    {
        d = Fp16.ToSingle(w + 208);
        dmin = 0;
        (u0, u1, u2, u3) = Q6_KKernels.Groups(w, 0);
        (u4, u5, u6, u7) = Q6_KKernels.Groups(w, 1);
        KQuantSmallBatchBlocks.PairScales(Vector128.Load((sbyte*)(w + 192)), out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7, out correction);
    }

    /// <summary>Dot256's end: minus the -32 offset terms (32·Σ sc_k·bsum_k, its OffsetTerms), then + sumi·(d_a·d).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc) =>
        KQuantSmallBatchBlocks.FinishWithOffsets(sumi, a, correction, 5, d, acc);
}

/// <summary>Q2_K (16 bytes of 4-bit scale / min pairs, qs[64], fp16 d, fp16 dmin): q in 0..3, value =
/// d·sc·q - dmin·m per 16 elements; the mins come back through the block sums as in Q4_K.</summary>
internal readonly unsafe struct Q2_KSmallBatchBlock : ISmallBatchBlock
{
    public static int Bytes => 84;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin)
    {
        d = Fp16.ToSingle(w + 80);
        dmin = Fp16.ToSingle(w + 82);
        // piece 4h + j: bits 2j of qs[32h..32h+31] (Dot256's order)
        var q0 = Vector256.Load(w + 16);
        var q1 = Vector256.Load(w + 48);
        u0 = Simd256.Bits(q0, 0, 3); u1 = Simd256.Bits(q0, 2, 3); u2 = Simd256.Bits(q0, 4, 3); u3 = Simd256.Bits(q0, 6, 3);
        u4 = Simd256.Bits(q1, 0, 3); u5 = Simd256.Bits(q1, 2, 3); u6 = Simd256.Bits(q1, 4, 3); u7 = Simd256.Bits(q1, 6, 3);
        // low nibbles: the sixteen scales, paired per piece as Dot256 pairs them (0..15, so widening them as signed
        // bytes gives Dot256's unsigned widening); high nibbles: the mins
        var scaleBytes = Vector128.Load(w);
        KQuantSmallBatchBlocks.PairScales(Simd128.Low(scaleBytes).AsSByte(), out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7, out _);
        correction = Avx2.ConvertToVector256Int16(Simd128.High(scaleBytes));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc) =>
        KQuantSmallBatchBlocks.FinishWithMins(sumi, a, correction, d, dmin, acc);
}

/// <summary>Q3_K (hmask[32], qs[64], 12 bytes of 6-bit scales, fp16 d): unsigned q in 0..7 (two bits of qs, the
/// third from hmask), value = d·sc·(q - 4); the -4 comes back as 4·Σ sc·bsum per block, as in Q6_K.</summary>
internal readonly unsafe struct Q3_KSmallBatchBlock : ISmallBatchBlock
{
    public static int Bytes => 110;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Unpack(byte* w,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7,
        out Vector256<short> correction, out float d, out float dmin)
    {
        d = Fp16.ToSingle(w + 108);
        dmin = 0;
        // piece 4h + j: bits 2j of qs[32h..32h+31], the third bit from bit 4h + j of hmask (Dot256's order)
        var hmask = Vector256.Load(w);
        var q0 = Vector256.Load(w + 32);
        var q1 = Vector256.Load(w + 64);
        u0 = Q3_KKernels.Unsigned(q0, hmask, 0, 0); u1 = Q3_KKernels.Unsigned(q0, hmask, 1, 1);
        u2 = Q3_KKernels.Unsigned(q0, hmask, 2, 2); u3 = Q3_KKernels.Unsigned(q0, hmask, 3, 3);
        u4 = Q3_KKernels.Unsigned(q1, hmask, 0, 4); u5 = Q3_KKernels.Unsigned(q1, hmask, 1, 5);
        u6 = Q3_KKernels.Unsigned(q1, hmask, 2, 6); u7 = Q3_KKernels.Unsigned(q1, hmask, 3, 7);
        KQuantSmallBatchBlocks.PairScales(KQuantScales.UnpackQ3Vector(w + 96), out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7, out correction);
    }

    /// <summary>Dot256's end: minus the -4 offset terms (4·Σ sc_k·bsum_k), then + sumi·(d_a·d).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Finish(Vector256<int> sumi, byte* a, Vector256<short> correction, float d, float dmin, Vector256<float> acc) =>
        KQuantSmallBatchBlocks.FinishWithOffsets(sumi, a, correction, 2, d, acc);
}

/// <summary>What the block types share: Q4_K's and Q5_K's 6-bit scales and mins and nibble order, the min terms of
/// Q2_K, Q4_K and Q5_K, and the paired int8 scales and constant-offset end of block of Q3_K and Q6_K.</summary>
internal static unsafe class KQuantSmallBatchBlocks
{
    /// <summary>The eight 6-bit scales as int16 vectors, and each min repeated for the two 16-element block sums of
    /// its piece (KQuantScales.MinTerms' multipliers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScalesAndMins(byte* packed,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7, out Vector256<short> minPairs)
    {
        var (scales, mins) = KQuantScales.UnpackScaleMin(packed);
        c0 = Vector256.Create((short)KQuantScales.Byte(scales, 0)); c1 = Vector256.Create((short)KQuantScales.Byte(scales, 1));
        c2 = Vector256.Create((short)KQuantScales.Byte(scales, 2)); c3 = Vector256.Create((short)KQuantScales.Byte(scales, 3));
        c4 = Vector256.Create((short)KQuantScales.Byte(scales, 4)); c5 = Vector256.Create((short)KQuantScales.Byte(scales, 5));
        c6 = Vector256.Create((short)KQuantScales.Byte(scales, 6)); c7 = Vector256.Create((short)KQuantScales.Byte(scales, 7));
        var m = Vector128.CreateScalar(mins).AsByte();
        minPairs = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
    }

    /// <summary>The 128 bytes of nibbles at qs: piece 2j the low nibbles of qs[32j..32j+31], 2j + 1 the high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Nibbles(byte* qs,
        out Vector256<byte> u0, out Vector256<byte> u1, out Vector256<byte> u2, out Vector256<byte> u3,
        out Vector256<byte> u4, out Vector256<byte> u5, out Vector256<byte> u6, out Vector256<byte> u7)
    {
        var nibble = Vector256.Create((byte)0x0F);
        var q0 = Vector256.Load(qs); var q1 = Vector256.Load(qs + 32);
        var q2 = Vector256.Load(qs + 64); var q3 = Vector256.Load(qs + 96);
        u0 = q0 & nibble; u1 = Simd256.Bits(q0, 4, 0x0F);
        u2 = q1 & nibble; u3 = Simd256.Bits(q1, 4, 0x0F);
        u4 = q2 & nibble; u5 = Simd256.Bits(q2, 4, 0x0F);
        u6 = q3 & nibble; u7 = Simd256.Bits(q3, 4, 0x0F);
    }

    /// <summary>Dot256's two fused steps: + sumi·(d_a·d), then + minTerms·-(d_a·dmin).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FinishWithMins(Vector256<int> sumi, byte* a, Vector256<short> minPairs, float d, float dmin, Vector256<float> acc)
    {
        float da = *(float*)a;
        var sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * d), acc);
        var minTerms = Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), minPairs);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(minTerms), Vector256.Create(-(da * dmin)), sum);
    }

    /// <summary>Sixteen int8 scales (one per 16 elements) as Dot256 pairs them: piece c's vector holds scales 2c and
    /// 2c + 1 on its two halves; and all sixteen as int16, the multipliers of the offset correction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PairScales(Vector128<sbyte> scales,
        out Vector256<short> c0, out Vector256<short> c1, out Vector256<short> c2, out Vector256<short> c3,
        out Vector256<short> c4, out Vector256<short> c5, out Vector256<short> c6, out Vector256<short> c7, out Vector256<short> wide)
    {
        var two = Vector128.Create((byte)2);
        var mask = Simd256.FirstPairMask;
        c0 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c1 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c2 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c3 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c4 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c5 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c6 = Simd256.PairScalesSigned(scales, mask); mask += two;
        c7 = Simd256.PairScalesSigned(scales, mask);
        wide = Avx2.ConvertToVector256Int16(scales);
    }

    /// <summary>The end of a block for the types with a constant offset (Q6_K: -32, shift 5; Q3_K: -4, shift 2):
    /// sumi - (Σ sc_k·bsum_k) &lt;&lt; shift, then + ·(d_a·d).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FinishWithOffsets(Vector256<int> sumi, byte* a, Vector256<short> wideScales, byte shift, float d, Vector256<float> acc)
    {
        var offsets = Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), wideScales) << shift;
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi - offsets), Vector256.Create(*(float*)a * d), acc);
    }
}

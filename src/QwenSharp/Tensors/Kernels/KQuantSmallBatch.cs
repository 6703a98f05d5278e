using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Small-batch (several sequences decoded together) MatMulRows for K-quant weights on the Vector256 rungs:
/// each super-block of a row is unpacked once in registers (eight vectors of 32 unsigned values and their eight
/// 16-bit scale vectors), straight from the row, and then serves every activation of the batch (≤ 8 at a time),
/// instead of the tile kernel's unpacking of four rows into scratch, which pays only at prompt-sized batches.
/// Per (row, activation) the arithmetic is the single-row Dot256's: the same exact integer lane sums (vpmaddubsw,
/// then the scale products by vpmaddwd or, on the AVX-VNNI rung, vpdpwssd, which adds the same products), the same
/// per-block corrections through the Q8_K block sums, the same fp32 products, fused steps and final reduction, so
/// every output is bit-identical to it.</summary>
internal static unsafe class KQuantSmallBatch
{
    /// <summary>Activations taken at a time; larger batches go in chunks of this many.</summary>
    private const int MaxChunk = 8;

    public static void MatMulQ4_K<TScaled>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                           float* output, int outputStride) where TScaled : IScaledDotAdd
    {
        const int Block = 144;
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block, actBytes = (long)blocks * BlockBytes;
        var acc = stackalloc Vector256<float>[MaxChunk];
        int ahead = Block32Rows.PrefetchAhead;
        var nibble = Vector256.Create((byte)0x0F);
        for (int first = 0; first < batch; first += MaxChunk)
        {
            int count = Math.Min(MaxChunk, batch - first);
            byte* a0 = activations + first * actBytes;
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* w = weights + r * rowBytes;
                for (int b = 0; b < count; b++) acc[b] = Vector256<float>.Zero;
                for (int k = 0; k < blocks; k++, w += Block)
                {
                    Block32Rows.PrefetchBlock(w, ahead, Block);
                    // scalars first: Fp16.ToSingle's rare path is a call, and vectors live across it would spill
                    float d = Fp16.ToSingle(w), dmin = Fp16.ToSingle(w + 2);
                    var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
                    var q0 = Vector256.Load(w + 16); var q1 = Vector256.Load(w + 48);
                    var q2 = Vector256.Load(w + 80); var q3 = Vector256.Load(w + 112);
                    // sub-block 2j: low nibbles of chunk j, 2j + 1: high nibbles (Dot256's order)
                    var u0 = q0 & nibble; var u1 = Simd256.Bits(q0, 4, 0x0F);
                    var u2 = q1 & nibble; var u3 = Simd256.Bits(q1, 4, 0x0F);
                    var u4 = q2 & nibble; var u5 = Simd256.Bits(q2, 4, 0x0F);
                    var u6 = q3 & nibble; var u7 = Simd256.Bits(q3, 4, 0x0F);
                    var c0 = Vector256.Create((short)KQuantScales.Byte(scales, 0)); var c1 = Vector256.Create((short)KQuantScales.Byte(scales, 1));
                    var c2 = Vector256.Create((short)KQuantScales.Byte(scales, 2)); var c3 = Vector256.Create((short)KQuantScales.Byte(scales, 3));
                    var c4 = Vector256.Create((short)KQuantScales.Byte(scales, 4)); var c5 = Vector256.Create((short)KQuantScales.Byte(scales, 5));
                    var c6 = Vector256.Create((short)KQuantScales.Byte(scales, 6)); var c7 = Vector256.Create((short)KQuantScales.Byte(scales, 7));
                    // each min repeated for the two 16-element sums of its sub-block (KQuantScales.MinTerms)
                    var m = Vector128.CreateScalar(mins).AsByte();
                    var minPairs = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
                    byte* a = a0 + k * BlockBytes;
                    for (int b = 0; b < count; b++, a += actBytes)
                    {
                        sbyte* y = (sbyte*)(a + QuantsOffset);
                        // two chains of four; the integer lane sums are exact in any order
                        var s = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u0, Vector256.Load(y), c0), u1, Vector256.Load(y + 32), c1), u2, Vector256.Load(y + 64), c2), u3, Vector256.Load(y + 96), c3);
                        var t = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u4, Vector256.Load(y + 128), c4), u5, Vector256.Load(y + 160), c5), u6, Vector256.Load(y + 192), c6), u7, Vector256.Load(y + 224), c7);
                        float da = *(float*)a;
                        var sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s + t), Vector256.Create(da * d), acc[b]);
                        var minTerms = Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), minPairs);
                        acc[b] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(minTerms), Vector256.Create(-(da * dmin)), sum);
                    }
                }
                float* o = output + (long)first * outputStride + r;
                for (int b = 0; b < count; b++) o[(long)b * outputStride] = Simd256.Sum(acc[b]);
            }
        }
    }
    public static void MatMulQ6_K<TScaled>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                           float* output, int outputStride) where TScaled : IScaledDotAdd
    {
        const int Block = 210;
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block, actBytes = (long)blocks * BlockBytes;
        var acc = stackalloc Vector256<float>[MaxChunk];
        int ahead = Block32Rows.PrefetchAhead;
        var two = Vector128.Create((byte)2);
        for (int first = 0; first < batch; first += MaxChunk)
        {
            int count = Math.Min(MaxChunk, batch - first);
            byte* a0 = activations + first * actBytes;
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* w = weights + r * rowBytes;
                for (int b = 0; b < count; b++) acc[b] = Vector256<float>.Zero;
                for (int k = 0; k < blocks; k++, w += Block)
                {
                    Block32Rows.PrefetchBlock(w, ahead, Block);
                    // the scalar first: Fp16.ToSingle's rare path is a call, and vectors live across it would spill
                    float d = Fp16.ToSingle(w + 208);
                    Q6_KGroups(w, 0, out var u0, out var u1, out var u2, out var u3);
                    Q6_KGroups(w, 1, out var u4, out var u5, out var u6, out var u7);
                    // the sixteen int8 scales as Dot256 pairs them (scales 2c, 2c + 1 for 32-element group c)
                    var scales = Vector128.Load((sbyte*)(w + 192));
                    var mask = Simd256.FirstPairMask;
                    var c0 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c1 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c2 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c3 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c4 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c5 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c6 = Simd256.PairScalesSigned(scales, mask); mask += two;
                    var c7 = Simd256.PairScalesSigned(scales, mask);
                    var wideScales = Avx2.ConvertToVector256Int16(scales);
                    byte* a = a0 + k * BlockBytes;
                    for (int b = 0; b < count; b++, a += actBytes)
                    {
                        sbyte* y = (sbyte*)(a + QuantsOffset);
                        var s = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u0, Vector256.Load(y), c0), u1, Vector256.Load(y + 32), c1), u2, Vector256.Load(y + 64), c2), u3, Vector256.Load(y + 96), c3);
                        var t = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u4, Vector256.Load(y + 128), c4), u5, Vector256.Load(y + 160), c5), u6, Vector256.Load(y + 192), c6), u7, Vector256.Load(y + 224), c7);
                        // the -32 of every element: 32·Σ sc_k·bsum_k (Dot256's OffsetTerms)
                        var offsets = Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), wideScales) << 5;
                        acc[b] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s + t - offsets), Vector256.Create(*(float*)a * d), acc[b]);
                    }
                }
                float* o = output + (long)first * outputStride + r;
                for (int b = 0; b < count; b++) o[(long)b * outputStride] = Simd256.Sum(acc[b]);
            }
        }
    }

    /// <summary>Q6_K (ql[128], qh[64], scales[16], fp16 d): the four unsigned 32-element groups (q in 0..63) of
    /// half h, element 32g + l with its low 4 bits in the low (g &lt; 2) or high (g ≥ 2) nibble of
    /// ql[64h + l + 32·(g &amp; 1)] and its top 2 bits at bits 2g of qh[32h + l].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KGroups(byte* block, int h, out Vector256<byte> g0, out Vector256<byte> g1, out Vector256<byte> g2, out Vector256<byte> g3)
    {
        var qlA = Vector256.Load(block + 64 * h);
        var qlB = Vector256.Load(block + 64 * h + 32);
        var qh = Vector256.Load(block + 128 + 32 * h);
        var nibble = Vector256.Create((byte)0x0F);
        g0 = (qlA & nibble) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 0, 3), 4);
        g1 = (qlB & nibble) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 2, 3), 4);
        g2 = Simd256.Bits(qlA, 4, 0x0F) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 4, 3), 4);
        g3 = Simd256.Bits(qlB, 4, 0x0F) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 6, 3), 4);
    }
}

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
/// every output is bit-identical to it. The type's part (unpacking a block, its end of block) is an
/// <see cref="ISmallBatchBlock"/>: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (KQuantSmallBatchBlocks.cs).</summary>
internal static unsafe class KQuantSmallBatch
{
    /// <summary>Activations taken at a time; larger batches go in chunks of this many.</summary>
    public const int MaxChunk = 8;

    public static void MatMul<TBlock, TScaled>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                               float* output, int outputStride) where TBlock : ISmallBatchBlock where TScaled : IScaledDotAdd
    {
        int block = TBlock.Bytes, blocks = n / 256;
        long rowBytes = (long)blocks * block, actBytes = (long)blocks * BlockBytes;
        var acc = stackalloc Vector256<float>[MaxChunk];
        int ahead = Block32Rows.PrefetchAhead;
        for (int first = 0; first < batch; first += MaxChunk)
        {
            int count = Math.Min(MaxChunk, batch - first);
            byte* a0 = activations + first * actBytes;
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* w = weights + r * rowBytes;
                for (int b = 0; b < count; b++) acc[b] = Vector256<float>.Zero;
                for (int k = 0; k < blocks; k++, w += block)
                {
                    Block32Rows.PrefetchBlock(w, ahead, block);
                    TBlock.Unpack(w, out var u0, out var u1, out var u2, out var u3, out var u4, out var u5, out var u6, out var u7,
                                  out var c0, out var c1, out var c2, out var c3, out var c4, out var c5, out var c6, out var c7,
                                  out var correction, out float d, out float dmin);
                    byte* a = a0 + k * BlockBytes;
                    for (int b = 0; b < count; b++, a += actBytes)
                    {
                        sbyte* y = (sbyte*)(a + QuantsOffset);
                        // two chains of four; the integer lane sums are exact in any order
                        var s = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u0, Vector256.Load(y), c0), u1, Vector256.Load(y + 32), c1), u2, Vector256.Load(y + 64), c2), u3, Vector256.Load(y + 96), c3);
                        var t = TScaled.Add(TScaled.Add(TScaled.Add(TScaled.Add(Vector256<int>.Zero,
                                    u4, Vector256.Load(y + 128), c4), u5, Vector256.Load(y + 160), c5), u6, Vector256.Load(y + 192), c6), u7, Vector256.Load(y + 224), c7);
                        acc[b] = TBlock.Finish(s + t, a, correction, d, dmin, acc[b]);
                    }
                }
                float* o = output + (long)first * outputStride + r;
                for (int b = 0; b < count; b++) o[(long)b * outputStride] = Simd256.Sum(acc[b]);
            }
        }
    }
}

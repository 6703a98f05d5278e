using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A 32-element block type whose weights are a signed integer q - Bias with q in 0..255, so an unpacked
/// block is 32 unsigned bytes that feed vpdpbusd directly (no per-activation sign transfer).</summary>
internal unsafe interface IBlock32Tile : IBlock32Kernel
{
    /// <summary>The offset the stored unsigned values carry: value = q - Bias.</summary>
    static abstract byte Bias { get; }

    /// <summary>The block's 32 values plus Bias, as unsigned bytes in element order.</summary>
    static abstract Vector256<byte> Unsigned(byte* w);
}

/// <summary>MatMulRows for 32-element block types on the AVX-VNNI rung: a tile of four weight rows is unpacked
/// once into per-thread scratch (unsigned bytes and fp32 scales), then every activation of the batch passes over
/// it; each activation block is loaded once for all four rows. Per (row, activation) pair the arithmetic is that
/// of <see cref="Block32Dot.Dot256{TKernel,TDot}"/>: the same exact integer block sums (Σ q·q_a - Bias·Σ q_a equals
/// Σ (q - Bias)·q_a in int32, and vpdpbusd never saturates), the same fp32 scale products, the same fused
/// accumulation order and final reduction, so results are bit-identical to the single-row dot.</summary>
internal static unsafe class Block32Tile
{
    private const int Rows = 4;

    /// <summary>Below this batch the unpacking costs more than it saves (decode keeps the single-row dot).</summary>
    private const int MinBatch = 2;

    [ThreadStatic] private static byte[]? scratch;

    public static void MatMul<TKernel>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                       float* output, int outputStride) where TKernel : IBlock32Tile
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowBytes = (long)(n / 32) * wb, actBytes = (long)(n / 32) * ab;
        int blocks = n / 32, groups = blocks / 8;
        int fullEnd = batch >= MinBatch && groups > 0 ? rowStart + (rowEnd - rowStart) / Rows * Rows : rowStart;
        if (fullEnd > rowStart)
        {
            long quantBytes = (long)Rows * blocks * 32, scaleBytes = (long)Rows * groups * 32;
            var buffer = scratch;
            if (buffer == null || buffer.Length < quantBytes + scaleBytes + 32) scratch = buffer = new byte[quantBytes + scaleBytes + 32];
            fixed (byte* raw = buffer)
            {
                byte* quants = (byte*)(((nint)raw + 31) & ~(nint)31);
                float* scales = (float*)(quants + quantBytes);
                for (int tile = rowStart; tile < fullEnd; tile += Rows)
                {
                    for (int r = 0; r < Rows; r++)
                        Unpack<TKernel>(weights + (tile + r) * rowBytes, blocks, groups, quants + (long)r * blocks * 32, scales + r * groups * 8);
                    for (int b = 0; b < batch; b++)
                        TileTimesActivation<TKernel>(weights + tile * rowBytes, rowBytes, quants, scales, blocks, groups,
                                                     activations + b * actBytes, output + (long)b * outputStride + tile);
                }
            }
        }
        var dot = (delegate*<byte*, byte*, int, float>)&Block32Dot.Dot256<TKernel, AvxVnniInt8Dot>;
        for (int b = 0; b < batch; b++)
            for (int r = fullEnd; r < rowEnd; r++)
                output[(long)b * outputStride + r] = dot(weights + r * rowBytes, activations + b * actBytes, n);
    }

    private static void Unpack<TKernel>(byte* w, int blocks, int groups, byte* quants, float* scales) where TKernel : IBlock32Tile
    {
        int wb = TKernel.WeightBlockBytes;
        for (int g = 0; g < groups; g++) Simd256.GatherHalves(w + g * 8 * wb, wb).Store(scales + 8 * g);
        for (int k = 0; k < blocks; k++) TKernel.Unsigned(w + k * wb).Store(quants + 32 * k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(byte* q, Vector256<sbyte> y) =>
        AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(q), y);

    /// <summary>Lane k = Σ q·q_a of block k of the eight at q (unpacked), minus the bias sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> GroupSums(byte* q, Vector256<sbyte> y0, Vector256<sbyte> y1, Vector256<sbyte> y2, Vector256<sbyte> y3,
                                              Vector256<sbyte> y4, Vector256<sbyte> y5, Vector256<sbyte> y6, Vector256<sbyte> y7, Vector256<int> bias) =>
        Avx.ConvertToVector256Single(Simd256.SumEach(Dot(q, y0), Dot(q + 32, y1), Dot(q + 64, y2), Dot(q + 96, y3),
                                                     Dot(q + 128, y4), Dot(q + 160, y5), Dot(q + 192, y6), Dot(q + 224, y7)) - bias);

    private static void TileTimesActivation<TKernel>(byte* w, long rowBytes, byte* quants, float* scales, int blocks, int groups,
                                                     byte* a, float* o) where TKernel : IBlock32Tile
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowQuants = (long)blocks * 32;
        var biasBytes = Vector256.Create(TKernel.Bias);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* ag = a;
        for (int g = 0; g < groups; g++, ag += 8 * ab)
        {
            var y0 = Vector256.Load((sbyte*)(ag + 2));
            var y1 = Vector256.Load((sbyte*)(ag + ab + 2));
            var y2 = Vector256.Load((sbyte*)(ag + 2 * ab + 2));
            var y3 = Vector256.Load((sbyte*)(ag + 3 * ab + 2));
            var y4 = Vector256.Load((sbyte*)(ag + 4 * ab + 2));
            var y5 = Vector256.Load((sbyte*)(ag + 5 * ab + 2));
            var y6 = Vector256.Load((sbyte*)(ag + 6 * ab + 2));
            var y7 = Vector256.Load((sbyte*)(ag + 7 * ab + 2));
            var bias = Simd256.SumEach(
                AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y0), AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y1),
                AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y2), AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y3),
                AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y4), AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y5),
                AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y6), AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, biasBytes, y7));
            var activationScales = Simd256.GatherHalves(ag, ab);
            byte* q = quants + 256 * g;
            float* s = scales + 8 * g;
            acc0 = Fma.MultiplyAdd(GroupSums(q, y0, y1, y2, y3, y4, y5, y6, y7, bias), Vector256.Load(s) * activationScales, acc0);
            acc1 = Fma.MultiplyAdd(GroupSums(q + rowQuants, y0, y1, y2, y3, y4, y5, y6, y7, bias), Vector256.Load(s + 8 * groups) * activationScales, acc1);
            acc2 = Fma.MultiplyAdd(GroupSums(q + 2 * rowQuants, y0, y1, y2, y3, y4, y5, y6, y7, bias), Vector256.Load(s + 16 * groups) * activationScales, acc2);
            acc3 = Fma.MultiplyAdd(GroupSums(q + 3 * rowQuants, y0, y1, y2, y3, y4, y5, y6, y7, bias), Vector256.Load(s + 24 * groups) * activationScales, acc3);
        }
        // the same final reduction as Block32Dot.Dot256: lanes summed, (+ 0 for the absent offsets), then the tail blocks
        int done = groups * 8, tail = blocks - done;
        byte* tw = w + done * wb, ta = a + done * ab;
        o[0] = Simd256.Sum(acc0) + 0f + Block32Dot.Tail256<TKernel, AvxVnniInt8Dot>(tw, ta, tail);
        o[1] = Simd256.Sum(acc1) + 0f + Block32Dot.Tail256<TKernel, AvxVnniInt8Dot>(tw + rowBytes, ta, tail);
        o[2] = Simd256.Sum(acc2) + 0f + Block32Dot.Tail256<TKernel, AvxVnniInt8Dot>(tw + 2 * rowBytes, ta, tail);
        o[3] = Simd256.Sum(acc3) + 0f + Block32Dot.Tail256<TKernel, AvxVnniInt8Dot>(tw + 3 * rowBytes, ta, tail);
    }
}

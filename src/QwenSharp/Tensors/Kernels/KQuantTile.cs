using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A K-quant type's half of a four-row tile kernel: how one weight block is unpacked once (into
/// PreparedBlockBytes of 32-byte-aligned scratch), and how four prepared rows meet one Q8_K activation row.</summary>
internal unsafe interface IKQuantTile
{
    static abstract int WeightBlockBytes { get; }
    static abstract int PreparedBlockBytes { get; }
    static abstract void Prepare(byte* w, byte* dst);

    /// <summary>o[r] = dot(prepared row r, a) for r = 0..3; prepared rows are rowStride bytes apart.</summary>
    static abstract void FourRows<TScaled>(byte* prepared, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd;

    /// <summary>The single-row dot the tile must equal bit for bit (used for leftover rows and small batches).</summary>
    static abstract float Dot(byte* w, byte* a, int n);
}

/// <summary>MatMulRows for K-quant weights on the AVX2 rung (the AVX-VNNI rung runs <see cref="KQuantPackedTile"/>
/// over the same prepared blocks): a tile of four weight rows is unpacked once into
/// per-thread scratch (nibbles as bytes, scales as ready 16-bit vectors, fp16 as fp32), then every activation of
/// a chunk of the batch passes over it, each activation vector loaded once for the four rows. The byte dots and
/// the 16-bit scale products are exact integers computed in the same lanes as the single-row kernel (vpdpwssd adds
/// the same scale·pair products vpmaddwd makes), and the fp32 steps are the same operations in the same order,
/// so each output is bit-identical to the single-row dot.</summary>
internal static unsafe class KQuantTile
{
    private const int Rows = 4;
    private const int MinBatch = 2;

    /// <summary>Activations per pass over the row tiles: 64 Q8_K rows of 1024 elements are ≈ 75 KB, which stays in L2.</summary>
    private const int Chunk = 64;

    [ThreadStatic] private static byte[]? scratch;

    public static void MatMul<TKernel, TScaled>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                                float* output, int outputStride) where TKernel : IKQuantTile where TScaled : IScaledDotAdd
    {
        int blocks = n / 256;
        long rowBytes = (long)blocks * TKernel.WeightBlockBytes, actBytes = (long)blocks * Q8_KLayout.BlockBytes;
        int fullEnd = batch >= MinBatch ? rowStart + (rowEnd - rowStart) / Rows * Rows : rowStart;
        if (fullEnd > rowStart)
        {
            long preparedRow = (long)blocks * TKernel.PreparedBlockBytes;
            var buffer = scratch;
            if (buffer == null || buffer.Length < Rows * preparedRow + 32) scratch = buffer = new byte[Rows * preparedRow + 32];
            fixed (byte* raw = buffer)
            {
                byte* prepared = (byte*)(((nint)raw + 31) & ~(nint)31);
                for (int first = 0; first < batch; first += Chunk)
                {
                    int count = Math.Min(Chunk, batch - first);
                    for (int tile = rowStart; tile < fullEnd; tile += Rows)
                    {
                        for (int r = 0; r < Rows; r++)
                        {
                            byte* w = weights + (tile + r) * rowBytes;
                            for (int k = 0; k < blocks; k++)
                                TKernel.Prepare(w + k * TKernel.WeightBlockBytes, prepared + r * preparedRow + k * TKernel.PreparedBlockBytes);
                        }
                        for (int b = first; b < first + count; b++)
                            TKernel.FourRows<TScaled>(prepared, preparedRow, blocks, activations + b * actBytes, output + (long)b * outputStride + tile);
                    }
                }
            }
        }
        for (int b = 0; b < batch; b++)
            for (int r = fullEnd; r < rowEnd; r++)
                output[(long)b * outputStride + r] = TKernel.Dot(weights + r * rowBytes, activations + b * actBytes, n);
    }


    /// <summary>Layout of a prepared block for the pair-scaled types (Q2_K, Q3_K, Q6_K, whose scales change every
    /// 16 elements): eight 32-byte vectors of unsigned values, their eight int16 pair-scale vectors, one int16
    /// vector of per-16 multipliers for the bsums correction, then d and (Q2_K) dmin as fp32.</summary>
    public const int PairScalesAt = 256, CorrectionAt = 512, DAt = 544, DminAt = 548, PairScaledBlockBytes = 576;

    /// <summary>FourRows for the pair-scaled types: Σ over the eight 32-element pieces of the scaled pair sums,
    /// then the type's own end of block.</summary>
    public static void FourRowsPairScaled<TFinish, TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o)
        where TFinish : IBlockFinish where TScaled : IScaledDotAdd
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
        for (int b = 0; b < blocks; b++, a += Q8_KLayout.BlockBytes)
        {
            int off = b * PairScaledBlockBytes;
            sbyte* y = (sbyte*)(a + Q8_KLayout.QuantsOffset);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 8; c++)
            {
                var yc = Vector256.Load(y + 32 * c);
                int q = off + 32 * c, sc = off + PairScalesAt + 32 * c;
                s0 = TScaled.Add(s0, Vector256.Load(p + q), yc, Vector256.Load((short*)(p + sc)));
                s1 = TScaled.Add(s1, Vector256.Load(p1 + q), yc, Vector256.Load((short*)(p1 + sc)));
                s2 = TScaled.Add(s2, Vector256.Load(p2 + q), yc, Vector256.Load((short*)(p2 + sc)));
                s3 = TScaled.Add(s3, Vector256.Load(p3 + q), yc, Vector256.Load((short*)(p3 + sc)));
            }
            float da = *(float*)a;
            var bsums = Vector256.Load((short*)(a + Q8_KLayout.SumsOffset));
            acc0 = TFinish.Finish(acc0, s0, bsums, da, p + off);
            acc1 = TFinish.Finish(acc1, s1, bsums, da, p1 + off);
            acc2 = TFinish.Finish(acc2, s2, bsums, da, p2 + off);
            acc3 = TFinish.Finish(acc3, s3, bsums, da, p3 + off);
        }
        o[0] = Simd256.Sum(acc0);
        o[1] = Simd256.Sum(acc1);
        o[2] = Simd256.Sum(acc2);
        o[3] = Simd256.Sum(acc3);
    }

    /// <summary>The bsums correction vector: lane i = bsums[2i]·m[2i] + bsums[2i+1]·m[2i+1].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Correction(Vector256<short> bsums, byte* preparedBlock) =>
        Avx2.MultiplyAddAdjacent(bsums, Vector256.Load((short*)(preparedBlock + CorrectionAt)));
}

/// <summary>A pair-scaled type's end of block, exactly as its single-row Dot256 does it.</summary>
internal unsafe interface IBlockFinish
{
    static abstract Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, byte* preparedBlock);
}

/// <summary>acc + scale·(u·s pair sums): lane i += scale[2i]·(u·s over bytes 4i, 4i+1) + scale[2i+1]·(bytes 4i+2,
/// 4i+3), the exact integers the single-row kernels' vpmaddwd(vpmaddubsw(u, s), scale) + acc produce.</summary>
internal interface IScaledDotAdd
{
    static abstract Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale);
}

/// <summary>vpmaddubsw + vpdpwssd (AVX-VNNI): the small-batch K-quant kernels' step.</summary>
internal readonly struct VnniScaledDotAdd : IScaledDotAdd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale) =>
        AvxVnni.MultiplyWideningAndAdd(acc, Avx2.MultiplyAddAdjacent(u, s), scale);
}

/// <summary>vpmaddubsw + vpmaddwd + vpaddd (AVX2).</summary>
internal readonly struct Avx2ScaledDotAdd : IScaledDotAdd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale) =>
        acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), scale);
}

using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>The small-batch MatMulRows kernels (several sequences decoded together) against a loop of single-row
/// dots on the same rung, bit for bit: lengths with and without tail blocks after the eight-block groups (and the
/// 0.5B model's 1024 and 2816), uneven row ranges, batches 2..16 through MatMulRows and, calling the kernel
/// directly, batches beyond its eight-activation chunk; weight bytes at their extremes.</summary>
public unsafe class SmallBatchMatMulTests
{
    /// <summary>Whole groups only, groups and a tail, the 0.5B model's widths, a tail only (32-element types).</summary>
    private static int[] Lengths(GgmlType type) =>
        GgmlTypeInfo.Block(type).BlockSize == 256 ? [256, 768, 1024, 2816] : [32 * 8, 32 * 19, 1024, 2816, 32 * 3];
    private static readonly (int Start, int End)[] RowRanges = [(0, 11), (1, 10), (3, 4), (6, 6)];

    public static TheoryData<GgmlType, string> TypesAndRungs()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in TensorTestData.WeightTypes)
            foreach (var path in TensorTestData.SupportedPaths)
                if (SmallBatchKernels.For(type, TensorTestData.Path(path)) != null) data.Add(type, path);
        // without AVX2 (DOTNET_EnableHWIntrinsic=0) no rung has one: one case that checks MatMulRows alone
        if (data.Count == 0) data.Add(GgmlType.Q8_0, nameof(KernelPath.Scalar));
        return data;
    }

    [Fact]
    public void ByteTypesHaveASmallBatchKernelWhereAvx2Exists()
    {
        Assert.Equal(KernelPaths.IsSupported(KernelPath.Vector256Avx2), SmallBatchKernels.Best(GgmlType.Q8_0) != null);
        Assert.Equal(KernelPaths.IsSupported(KernelPath.Vector256Avx2), SmallBatchKernels.Best(GgmlType.Q4_0) != null);
        Assert.True(SmallBatchKernels.For(GgmlType.Q8_0, KernelPath.Scalar) == null);
    }

    [Theory]
    [MemberData(nameof(TypesAndRungs))]
    public void SmallBatchesEqualALoopOfDotsExactly(GgmlType weightType, string path)
    {
        var kernelPath = TensorTestData.Path(path);
        var kernel = SmallBatchKernels.For(weightType, kernelPath);
        var rng = new Random(9100 + (int)weightType);
        const int Rows = 11, Stride = 12, MaxBatch = 19;
        // batches past MatMulRows' range go to the kernel directly (where there is one)
        int lastBatch = kernel != null ? MaxBatch : SmallBatchKernels.MaxBatch;
        foreach (int n in Lengths(weightType))
        {
            long rowBytes = GgmlTypeInfo.RowBytes(weightType, n), actBytes = VecDot.ActivationRowBytes(weightType, n);
            var (weights, activations) = TensorTestData.RandomMatMulOperands(weightType, Rows, MaxBatch, n, rng, kernelPath);
            var output = new float[MaxBatch * Stride];
            fixed (byte* pw = weights, pa = activations)
            fixed (float* po = output)
            {
                var expected = new float[MaxBatch, Rows];
                for (int b = 0; b < MaxBatch; b++)
                    for (int r = 0; r < Rows; r++) expected[b, r] = VecDot.Dot(weightType, pw + r * rowBytes, pa + b * actBytes, n, kernelPath);
                for (int batch = 2; batch <= lastBatch; batch++)
                    foreach (var (start, end) in RowRanges)
                    {
                        Array.Fill(output, float.NaN);
                        // through MatMulRows where it picks the small-batch kernel, directly beyond that
                        if (batch <= SmallBatchKernels.MaxBatchFor(weightType)) VecDot.MatMulRows(weightType, pw, n, start, end, pa, batch, po, Stride, kernelPath);
                        else kernel(pw, n, start, end, pa, batch, po, Stride);
                        for (int b = 0; b < MaxBatch; b++)
                            for (int r = 0; r < Stride; r++)
                            {
                                float got = output[b * Stride + r];
                                if (b >= batch || r < start || r >= end)
                                    Assert.True(float.IsNaN(got), $"n {n}, batch {batch}, rows [{start}, {end}): ({b}, {r}) outside the call was written");
                                else if (BitConverter.SingleToInt32Bits(got) != BitConverter.SingleToInt32Bits(expected[b, r]))
                                    Assert.Fail($"n {n}, batch {batch}, rows [{start}, {end}): ({b}, {r}) = {got:R}, single-row dot {expected[b, r]:R}");
                            }
                    }
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndRungs))]
    public void ExtremeBytesEqualALoopOfDotsExactly(GgmlType weightType, string path)
    {
        // every byte but the fp16 scales 0x80 (Q8_0: q = -128, whose magnitude is no signed byte; nibbles 0 and 8)
        // or 0xFF (q = -1; nibbles 15; K-quant scales and mins at their largest), activations at ±127: the largest
        // block sums; whole groups and a tail
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(9200 + (int)weightType);
        var (blockSize, blockBytes) = GgmlTypeInfo.Block(weightType);
        const int Rows = 6, Batch = 8;
        int n = blockSize == 256 ? 768 : 32 * 17;
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n);
        var weights = new byte[Rows * rowBytes];
        for (int r = 0; r < Rows; r++)
        {
            var sane = TensorTestData.RandomRow(weightType, n, rng);
            var row = new byte[rowBytes];
            for (int b = 0; b < n / blockSize; b++)
            {
                row.AsSpan(b * blockBytes, blockBytes).Fill((r + b) % 2 == 0 ? (byte)0x80 : (byte)0xFF);
                foreach (int offset in TensorTestData.ScaleOffsets(weightType))
                    sane.AsSpan(b * blockBytes + offset, 2).CopyTo(row.AsSpan(b * blockBytes + offset));
            }
            row.CopyTo(weights, r * rowBytes);
        }
        MatVecCheck.ExtremeBatchMatchesDot(weightType, kernelPath, n, Rows, Batch, weights);
    }
}

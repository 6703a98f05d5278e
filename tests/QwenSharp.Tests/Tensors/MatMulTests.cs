using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>GEMM-shaped MatMulRows calls (the prompt-processing shape: many activations, row ranges that do not
/// divide into tiles, blocks that do not divide into the kernels' eight-block groups) against a loop of
/// single-row dots on the same rung: the multi-row × multi-activation kernels must be bit-identical to it.</summary>
public unsafe class MatMulTests
{
    private static readonly int[] Batches = [1, 2, 3, 4, 5, 7, 8, 9, 16, 37];

    /// <summary>Row ranges over 14 rows: whole tiles, tiles plus leftovers, fewer rows than a tile, empty.</summary>
    private static readonly (int Start, int End)[] RowRanges = [(0, 14), (1, 12), (3, 6), (5, 5), (13, 14)];

    /// <summary>Lengths with a tail after the eight-block groups (float types: after the 32- and 16-element
    /// steps), and ones shorter than a group or a step.</summary>
    private static int[] Lengths(GgmlType type) => GgmlTypeInfo.Block(type).BlockSize switch
    {
        256 => [768, 256],
        32 => [32 * 19, 32 * 3],
        _ => [32 * 19 + 16 + 5, 32 * 3, 13],
    };

    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void GemmShapesEqualALoopOfDotsExactly(GgmlType weightType, string path)
    {
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(7000 + (int)weightType);
        const int Rows = 14, Stride = 15;
        int maxBatch = Batches.Max();
        foreach (int n in Lengths(weightType))
        {
            long rowBytes = GgmlTypeInfo.RowBytes(weightType, n), actBytes = VecDot.ActivationRowBytes(weightType, n);
            var (weights, activations) = TensorTestData.RandomMatMulOperands(weightType, Rows, maxBatch, n, rng, kernelPath);
            var output = new float[maxBatch * Stride];
            fixed (byte* pw = weights, pa = activations)
            fixed (float* po = output)
            {
                var expected = new float[maxBatch, Rows];
                for (int b = 0; b < maxBatch; b++)
                    for (int r = 0; r < Rows; r++) expected[b, r] = VecDot.Dot(weightType, pw + r * rowBytes, pa + b * actBytes, n, kernelPath);
                foreach (int batch in Batches)
                    foreach (var (start, end) in RowRanges)
                    {
                        Array.Fill(output, float.NaN);
                        VecDot.MatMulRows(weightType, pw, n, start, end, pa, batch, po, Stride, kernelPath);
                        for (int b = 0; b < maxBatch; b++)
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
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void ExtremeBytesEqualALoopOfDotsExactly(GgmlType weightType, string path)
    {
        // every weight byte 0x80 (Q8_0: q = -128, the one value whose magnitude is not a signed byte) or 0xFF, and
        // activations at ±127: the largest integer block sums each kernel can see
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(8000 + (int)weightType);
        int n = GgmlTypeInfo.Block(weightType).BlockSize == 256 ? 512 : 32 * 17;
        const int Rows = 8, Batch = 6;
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n);
        var weights = new byte[Rows * rowBytes];
        for (int r = 0; r < Rows; r++)
        {
            var row = TensorTestData.RandomRow(weightType, n, rng);
            var sane = TensorTestData.RandomRow(weightType, n, rng);
            for (int i = 0; i < row.Length; i++) row[i] = r % 2 == 0 ? (byte)0x80 : (byte)0xFF;
            // keep the fp16 scales of a random row where the type has them, so the values stay finite
            if (weightType is not (GgmlType.F16 or GgmlType.BF16 or GgmlType.F32)) KeepScales(weightType, sane, row);
            else row = sane;
            row.CopyTo(weights, r * rowBytes);
        }
        MatVecCheck.ExtremeBatchMatchesDot(weightType, kernelPath, n, Rows, Batch, weights);
    }

    /// <summary>Copies the fp16 scale fields of every block of sane into row.</summary>
    private static void KeepScales(GgmlType type, byte[] sane, byte[] row)
    {
        int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
        foreach (int offset in TensorTestData.ScaleOffsets(type))
            for (int b = 0; b < row.Length / blockBytes; b++)
            {
                row[b * blockBytes + offset] = sane[b * blockBytes + offset];
                row[b * blockBytes + offset + 1] = sane[b * blockBytes + offset + 1];
            }
    }
}

using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>The K-quant tile kernels process activations in chunks (64 on the AVX2 rung, 128 in the AVX-VNNI packed
/// tile; packed once per chunk, weights prepared again for each): batches of exactly one chunk, one more, and several
/// with a partial last one, against a loop of single-row dots on the same rung. MatMulTests covers batches up to 37,
/// inside one chunk.</summary>
public unsafe class KQuantTileBatchTests
{
    public static TheoryData<GgmlType, string> KQuantTypesAndPaths()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(KQuantTypesAndPaths))]
    public void BatchesOverSeveralChunksEqualALoopOfDotsExactly(GgmlType weightType, string path)
    {
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(9100 + (int)weightType);
        const int Rows = 9, N = 512, Batch = 300;
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, N), actBytes = VecDot.ActivationRowBytes(weightType, N);
        var (weights, activations) = TensorTestData.RandomMatMulOperands(weightType, Rows, Batch, N, rng, kernelPath);
        var output = new float[Batch * Rows];
        fixed (byte* pw = weights, pa = activations)
        fixed (float* po = output)
        {
            foreach (int batch in new[] { 64, 65, 128, 129, Batch })
            {
                Array.Fill(output, float.NaN);
                VecDot.MatMulRows(weightType, pw, N, 0, Rows, pa, batch, po, Rows, kernelPath);
                for (int b = 0; b < batch; b++)
                    for (int r = 0; r < Rows; r++)
                    {
                        float expected = VecDot.Dot(weightType, pw + r * rowBytes, pa + b * actBytes, N, kernelPath);
                        Assert.True(BitConverter.SingleToInt32Bits(output[b * Rows + r]) == BitConverter.SingleToInt32Bits(expected),
                            $"batch {batch}: ({b}, {r}) = {output[b * Rows + r]:R}, single-row dot {expected:R}");
                    }
            }
        }
    }
}

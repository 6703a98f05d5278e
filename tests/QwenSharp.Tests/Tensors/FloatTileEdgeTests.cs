using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>The F16/BF16 tile kernel (batches above the small-batch range) at its edges: F16 weights are read as
/// w·2^-112 against activations scaled by 2^112, so subnormal halves, signed zeros, ±65504 and, in some rows, an
/// infinity or NaN (such a row must be recomputed by the single-row dot) must all still give outputs bit-identical
/// to <see cref="VecDot.Dot(GgmlType, byte*, byte*, int)"/>; batches that span two activation chunks, odd batches
/// (the 4 × 1 block), lengths with a 16-element step and a scalar tail, row ranges with leftover rows.</summary>
public unsafe class FloatTileEdgeTests
{
    private static readonly (int Start, int End)[] RowRanges = [(0, 11), (1, 10), (4, 8)];

    public static TheoryData<GgmlType, string> FloatTypesAndPaths()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in new[] { GgmlType.F16, GgmlType.BF16 })
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(FloatTypesAndPaths))]
    public void SpecialValuesEqualTheSingleRowDotExactly(GgmlType type, string path)
    {
        // finite edge values in every row; rows 3..10 also get one infinity or NaN (of the type), at a position
        // that moves through the 32-element loop, the 16-element step and the scalar tail
        ushort[] finite = type == GgmlType.F16
            ? [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00]
            : [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x807F, 0x0080, 0x8080, 0x7F7F, 0xFF7F, 0x3F80, 0xBF80];
        ushort[] special = type == GgmlType.F16
            ? [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55]
            : [0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFFFF, 0x7FFF, 0x7FD5];
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(9900 + (int)type);
        const int Rows = 11;
        foreach (int n in new[] { 32 * 4 + 16 + 5, 32 * 3 })
        {
            int[] positions = [0, 17, 40, n - 1, 33, 31, n / 2, n - 2];
            long rowBytes = GgmlTypeInfo.RowBytes(type, n), actBytes = VecDot.ActivationRowBytes(type, n);
            var weights = new byte[Rows * rowBytes];
            for (int r = 0; r < Rows; r++)
            {
                var row = TensorTestData.RandomRow(type, n, rng);
                for (int k = 0; k < finite.Length; k++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * ((k * 11 + r) % n)), finite[k]);
                if (r >= 3) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * positions[r - 3]), special[r - 3]);
                row.CopyTo(weights, r * rowBytes);
            }
            const int MaxBatch = 67;   // two chunks of activations (64 + 3)
            var activations = new byte[MaxBatch * actBytes];
            for (int b = 0; b < MaxBatch; b++)
            {
                var x = TensorTestData.RandomActivations(n, rng);
                for (int i = b % 7; i < n; i += 7) x[i] = i % 2 == 0 ? 65504f : -65504f;
                x[3] = 0f;
                x[5] = b % 2 == 0 ? 6e-8f : -0f;   // a subnormal half activation, a negative zero
                VecDot.QuantizeActivation(type, x, activations.AsSpan((int)(b * actBytes), (int)actBytes), kernelPath);
            }
            var output = new float[MaxBatch * Rows];
            fixed (byte* pw = weights, pa = activations)
            fixed (float* po = output)
                foreach (int batch in new[] { 17, 18, MaxBatch })
                    foreach (var (start, end) in RowRanges)
                    {
                        Array.Fill(output, float.NaN);
                        VecDot.MatMulRows(type, pw, n, start, end, pa, batch, po, Rows, kernelPath);
                        for (int b = 0; b < batch; b++)
                            for (int r = start; r < end; r++)
                            {
                                float got = output[b * Rows + r];
                                float expected = VecDot.Dot(type, pw + r * rowBytes, pa + b * actBytes, n, kernelPath);
                                // A NaN's payload is not part of the contract: which NaN operand an add returns
                                // depends on operand order, and the JIT may swap a commutative add's operands between
                                // tiers (seen once: FFC00000 vs 7FD50000 for the same row and activation).
                                if (float.IsNaN(expected)) { Assert.True(float.IsNaN(got), $"({b}, {r}) = {got:R}, single-row dot NaN"); continue; }
                                Assert.True(BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(expected),
                                            $"{type} n {n}, batch {batch}, rows [{start}, {end}): ({b}, {r}) = {got:R} ({BitConverter.SingleToInt32Bits(got):X8}), single-row dot {expected:R} ({BitConverter.SingleToInt32Bits(expected):X8})");
                            }
                    }
        }
    }
}

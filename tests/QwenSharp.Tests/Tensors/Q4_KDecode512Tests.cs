using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Batch-1 MatMulRows for Q4_K on the AVX-VNNI rung, which runs <see cref="Q4_KRows512"/> (512-bit
/// chunks) where AVX-512 BW and VBMI exist and Q4_KRows otherwise (DOTNET_EnableAVX512F=0): every output
/// bit-identical to the single-row Dot256, for row ranges that do not divide into fours, random rows with every
/// sub-block's scale, min and nibbles different, extreme rows, and d/dmin at the fp16 edges.</summary>
public class Q4_KDecode512Tests
{
    private const int Rows = 11;
    private const int Block = 144;
    private static readonly (int Start, int End)[] RowRanges = [(0, 11), (1, 10), (3, 6), (4, 8), (6, 7), (5, 5), (0, 9), (2, 11)];
    private static readonly int[] Lengths = [256, 768, 1024, 2816];

    [Fact]
    public void TheVnniRungRunsTheWideKernelWhereTheMachineHasIt()
    {
        Assert.Equal(Avx512BW.IsSupported && Avx512Vbmi.IsSupported, Q4_KRows512.IsSupported);
    }

    [Fact]
    public void RandomRowsEqualTheSingleRowDotExactly()
    {
        var rng = new Random(5120);
        foreach (int n in Lengths)
            for (int round = 0; round < 3; round++)
                Check(n, _ => TensorTestData.RandomRow(GgmlType.Q4_K, n, rng), TensorTestData.RandomActivations(n, rng));
    }

    [Fact]
    public void OneSubBlockAtATimeEqualsTheSingleRowDotExactly()
    {
        // only sub-block s of each super-block has non-zero nibbles (low nibbles for even s, high for odd), so
        // a scale or activation taken from the wrong sub-block or half changes the result
        var rng = new Random(5121);
        foreach (int n in new[] { 256, 1024 })
            for (int s = 0; s < 8; s++)
            {
                int sub = s;
                Check(n, _ =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
                    for (int b = 0; b < n / 256; b++)
                        for (int i = 0; i < 128; i++)
                        {
                            int at = b * Block + 16 + i;
                            bool mine = i / 32 == sub / 2;
                            row[at] = !mine ? (byte)0 : sub % 2 == 0 ? (byte)(row[at] & 0x0F) : (byte)(row[at] & 0xF0);
                        }
                    return row;
                }, TensorTestData.RandomActivations(n, rng));
            }
    }

    [Fact]
    public void LargestLanesEqualTheSingleRowDotExactly()
    {
        // nibbles all 15 or all 0 (or random), scales and mins all 63 (packed bytes 0xFF), activations ±127
        var rng = new Random(5122);
        foreach (int n in Lengths)
            foreach (var pattern in new Func<int, float>[] { _ => 1f, _ => -1f, i => i % 2 == 0 ? 1f : -1f, i => i % 7 < 3 ? -1f : 1f })
            {
                var x = Enumerable.Range(0, n).Select(pattern).ToArray();
                Check(n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
                    for (int b = 0; b < n / 256; b++)
                    {
                        int at = b * Block;
                        if (r % 3 != 2) row.AsSpan(at + 4, 12).Fill(0xFF);
                        if (r % 3 != 1) row.AsSpan(at + 16, 128).Fill(r % 3 == 0 ? (byte)0xFF : (byte)0x00);
                        if (r == 5) { SetHalf(row, at, 0x7BFF); SetHalf(row, at + 2, 0xFBFF); }
                    }
                    return row;
                }, x);
            }
    }

    [Fact]
    public void SpecialScalesEqualTheSingleRowDotExactly()
    {
        // finite edge halves as d or dmin in every row; rows 3..10 also one infinity or NaN (first, middle or last
        // super-block), which the kernel hands to the single-row dot
        ushort[] finite = [0x0001, 0x8001, 0x03FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0400, 0x83FF];
        ushort[] special = [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55];
        var rng = new Random(5123);
        foreach (int n in new[] { 2816, 1024, 768 })
        {
            int blocks = n / 256;
            int[] specialAt = [0, 2 * blocks - 1, blocks, 1, 2 * blocks - 2, blocks - 1, 3, 2 * (blocks / 2) + 1];
            var x = TensorTestData.RandomActivations(n, rng);
            for (int i = 0; i < 256; i++) x[n - 256 + i] *= 1e-30f;
            Check(n, r =>
            {
                var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
                for (int k = 0; k < finite.Length; k++)
                {
                    int field = (3 * k + r) % (2 * blocks);
                    SetHalf(row, Block * (field / 2) + 2 * (field % 2), finite[k]);
                }
                if (r >= 3)
                {
                    int field = specialAt[r - 3];
                    SetHalf(row, Block * (field / 2) + 2 * (field % 2), special[r - 3]);
                }
                return row;
            }, x);
        }
    }

    private static void SetHalf(byte[] row, int offset, ushort half) => BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(offset), half);

    private static void Check(int n, Func<int, byte[]> row, float[] x)
    {
        if (!KernelPaths.IsSupported(KernelPath.Vector256AvxVnni)) return;   // the kernel is wired on this rung only
        MatVecCheck.RowsMatchDot(GgmlType.Q4_K, KernelPath.Vector256AvxVnni, n, Rows, RowRanges, row, x);
    }
}

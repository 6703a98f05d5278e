using System.Buffers.Binary;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Q6_K repacked into groups of four rows, super-block by super-block (<see cref="Q6_KInterleaved"/>): the
/// repack is lossless and puts each super-block where the kernel reads it; on every rung, for every batch size and row
/// range (groups cut by the range included), MatMulRows over the repacked matrix gives the file layout's outputs bit
/// for bit, extreme quants and scales and infinite, NaN and subnormal d included.</summary>
public unsafe class Q6_KInterleavedTests
{
    private const int Rows = 40, Block = 210;

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    private static byte[] RandomMatrix(int rows, int n, Random rng) => Interleaved8Tests.RandomMatrix(GgmlType.Q6_K, rows, n, rng);

    private static byte[] Interleaved(byte[] standard, int rows, int n) => Interleaved8Tests.Interleaved(GgmlType.Q6_K, standard, rows, n);

    /// <summary>Interleaved8Tests.Check: every row range against the file layout on the same rung, bit for bit.</summary>
    private static void Check(KernelPath path, int n, byte[] weights, float[] x, int batch) =>
        Interleaved8Tests.Check(GgmlType.Q6_K, path, n, weights, x, batch);

    [Fact]
    public void InterleavingIsLosslessAndPutsEachSuperBlockWhereTheKernelReadsIt()
    {
        var rng = new Random(9100);
        foreach (int n in new[] { 256, 1024, 2816 })
        {
            var standard = RandomMatrix(16, n, rng);
            var packed = Interleaved(standard, 16, n);
            long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q6_K, n);
            // group 2 (rows 8..11): row 10's last super-block at record (blocks - 1), slot 2
            int blocks = n / 256;
            long group2 = 8 * rowBytes, at = group2 + ((blocks - 1) * 4 + 2) * (long)Block;
            Assert.Equal(standard.AsSpan((int)(10 * rowBytes + (blocks - 1) * Block), Block).ToArray(), packed.AsSpan((int)at, Block).ToArray());
            if (blocks > 1) Assert.NotEqual(standard, packed);   // one super-block per row: the same bytes
            Interleaved8Tests.AssertUndoes(GgmlType.Q6_K, standard, packed, n, [0, 3, 4, 7, 8, 13, 15]);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryBatchAndRangeGivesTheFileLayoutsBits(string path)
    {
        var rng = new Random(9200);
        foreach (var (n, batch) in new[] { (256, 1), (1024, 1), (2816, 1), (512, 2), (512, 3), (768, 5), (512, 8), (256, 17) })
            Check(TensorTestData.Path(path), n, RandomMatrix(Rows, n, rng), Interleaved8Tests.RandomBatch(batch, n, rng), batch);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ExtremeAndSpecialBlocksGiveTheFileLayoutsBits(string path)
    {
        // quants all 63 or all 0, scales ±127/-128, activations ±1; d subnormal, zero, largest, infinite and NaN
        ushort[] halves = [0x0001, 0x8001, 0x03FF, 0x0000, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00];
        var rng = new Random(9300);
        const int n = 1024;
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q6_K, n);
        var weights = RandomMatrix(Rows, n, rng);
        for (int r = 0; r < Rows; r += 3)
            for (int b = 0; b < n / 256; b++)
            {
                int at = (int)(r * rowBytes) + b * Block;
                weights.AsSpan(at, 192).Fill(r % 2 == 0 ? (byte)0xFF : (byte)0x00);
                weights.AsSpan(at + 192, 16).Fill(r % 2 == 0 ? (byte)0x7F : (byte)0x80);
            }
        for (int k = 0; k < halves.Length; k++)
            BinaryPrimitives.WriteUInt16LittleEndian(weights.AsSpan((int)(((4 * k + 1) % Rows) * rowBytes) + Block * (k % 4) + 208), halves[k]);
        foreach (int batch in new[] { 1, 3 })
        {
            var x = new float[batch * n];
            for (int i = 0; i < x.Length; i++) x[i] = i % 3 == 0 ? -1f : 1f;
            Check(TensorTestData.Path(path), n, weights, x, batch);
        }
    }

    [Fact]
    public void PartGroupsAreRefused()
    {
        Assert.False(Interleaved8.Eligible(GgmlType.Q6_K, 12, 256));
        Assert.False(Interleaved8.Eligible(GgmlType.Q6_K, 16, 288));
        Assert.Equal(Q6_KRows512.IsSupported && KernelTable.DotPath(GgmlType.Q6_K) == KernelPath.Vector256AvxVnni,
                     Interleaved8.Eligible(GgmlType.Q6_K, 16, 256));
    }
}

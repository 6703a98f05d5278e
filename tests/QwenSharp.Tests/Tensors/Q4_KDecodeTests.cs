using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>Batch-1 MatMulRows for Q4_K (the Vector256 rungs run Q4_KRows: four rows per pass, scales unpacked
/// with vector shuffles, fp16 d/dmin converted exactly): every output must be bit-identical to the single-row dot on
/// the same rung, for row ranges that do not divide into fours, random and extreme rows, fp16 d/dmin at their edges
/// (subnormal, ±0, ±65504, infinities and NaNs) and activation scales at their edges (huge and subnormal d_a).</summary>
public class Q4_KDecodeTests
{
    private const int Rows = 11;
    private const int Block = 144;
    private static readonly (int Start, int End)[] RowRanges = [(0, 11), (1, 10), (3, 6), (4, 8), (6, 7), (2, 2), (0, 9)];
    private static readonly int[] Lengths = [256, 256 * 3, 256 * 4, 256 * 11];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    [Theory]
    [MemberData(nameof(Paths))]
    public void RandomRowsEqualTheSingleRowDotExactly(string path)
    {
        var rng = new Random(9800);
        foreach (int n in Lengths)
            Check(path, n, _ => TensorTestData.RandomRow(GgmlType.Q4_K, n, rng), TensorTestData.RandomActivations(n, rng));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void LargestLanesEqualTheSingleRowDotExactly(string path)
    {
        // nibbles all 15 (or all 0, or random), every 6-bit scale and min 63 (the 12 packed bytes all 0xFF; every
        // third row a random packing), against activations that quantize to ±127: each int32 lane of sumi at
        // 8·63·4·15·127, the min terms at 63·2·16·127
        var rng = new Random(9810);
        foreach (int n in Lengths)
            foreach (var pattern in new Func<int, float>[] { _ => 1f, _ => -1f, i => i % 2 == 0 ? 1f : -1f, i => i % 5 == 0 ? -1f : 1f })
            {
                var x = Enumerable.Range(0, n).Select(pattern).ToArray();
                Check(path, n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
                    for (int b = 0; b < n / 256; b++)
                    {
                        int at = b * Block;
                        if (r % 3 != 2) row.AsSpan(at + 4, 12).Fill(0xFF);
                        if (r % 3 != 1) row.AsSpan(at + 16, 128).Fill(r % 3 == 0 ? (byte)0xFF : (byte)0x00);
                        if (r == 4) { SetHalf(row, at, 0x7BFF); SetHalf(row, at + 2, 0xFBFF); }
                    }
                    return row;
                }, x);
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SpecialScalesEqualTheSingleRowDotExactly(string path)
    {
        // finite edge halves as d or dmin of different super-blocks in every row; rows 3..10 also get one infinity
        // or NaN d or dmin (first, middle or last super-block), which the kernel must hand to the single-row dot
        ushort[] finite = [0x0001, 0x8001, 0x03FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0400, 0x83FF];
        ushort[] special = [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55];
        var rng = new Random(9820);
        foreach (int n in new[] { 256 * 11, 256 * 4 })
        {
            int blocks = n / 256;
            int[] specialAt = [0, 2 * blocks - 1, blocks, 1, 2 * blocks - 2, blocks - 1, 3, 2 * (blocks / 2) + 1];
            var x = TensorTestData.RandomActivations(n, rng);
            for (int i = 0; i < 256; i++) x[n - 256 + i] *= 1e-30f;   // last super-block: d_a near 1e-32, products below fp32's normal range
            Check(path, n, r =>
            {
                var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
                for (int k = 0; k < finite.Length; k++)
                {
                    int field = (3 * k + r) % (2 * blocks);   // field f: super-block f / 2, d (even) or dmin (odd)
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

    [Theory]
    [MemberData(nameof(Paths))]
    public void LargeActivationScalesEqualTheSingleRowDotExactly(string path)
    {
        // a super-block whose largest activation is 1e7 (d_a ≈ 78740), -3e9 or 8e6 (d_a ≈ 62992): large products
        // d_a·d, which an earlier form of the kernel (d_a·2^112) could not take
        var rng = new Random(9830);
        foreach (float big in new[] { 1e7f, -3e9f, 8e6f })
            foreach (int n in new[] { 256 * 3, 256 * 11 })
            {
                var x = TensorTestData.RandomActivations(n, rng);
                x[256 + 17] = big;
                Check(path, n, _ => TensorTestData.RandomRow(GgmlType.Q4_K, n, rng), x);
            }
    }

    private static void SetHalf(byte[] row, int offset, ushort half) => BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(offset), half);

    private static void Check(string path, int n, Func<int, byte[]> row, float[] x) =>
        MatVecCheck.RowsMatchDot(GgmlType.Q4_K, TensorTestData.Path(path), n, Rows, RowRanges, row, x);
}

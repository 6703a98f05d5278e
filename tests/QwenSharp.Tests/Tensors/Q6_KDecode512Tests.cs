using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>The zmm Q6_K batch-1 kernel (<c>Q6_KRows512</c>, run on the AVX-VNNI rung where AVX-512 BW/VL and GFNI
/// are there; elsewhere these cases hold <c>Q6_KRows</c> and the single-row loops): every output of MatMulRows at
/// batch 1 bit-identical to the single-row dot of the same rung (Dot256 on the Vector256 rungs), on the model's row
/// lengths, row ranges that do not divide into fours, checkpoint-like rows and every extreme of quants, scales and
/// activations (random rows and special d: Q6_KDecodeTests, which reach the same kernel).</summary>
public class Q6_KDecode512Tests
{
    private const int Rows = 14;
    private const int BlockBytes = 210;
    private static readonly (int Start, int End)[] RowRanges = [(0, 14), (1, 14), (2, 11), (3, 7), (8, 9), (6, 6), (10, 13)];
    private static readonly int[] Lengths = [256, 768, 1024, 2816];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    [Theory]
    [MemberData(nameof(Paths))]
    public void CheckpointLikeRowsEqualTheSingleRowDotExactly(string path)
    {
        // Gaussian weights of std 0.02 through our quantizer, as in real checkpoints: d is mostly an fp16 subnormal
        var rng = new Random(5121);
        foreach (int n in Lengths)
            Check(path, n, _ =>
            {
                var x = new float[n];
                for (int i = 0; i < n; i++) x[i] = TensorTestData.Gaussian(rng) * 0.02f;
                var row = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q6_K, n)];
                KQuantize.Row(GgmlType.Q6_K, x, row);
                return row;
            }, TensorTestData.RandomActivations(n, rng));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ExtremeQuantsScalesAndActivationsEqualTheSingleRowDotExactly(string path)
    {
        // quants all 63 or all 0 (both halves, all four groups), or one value per half; scales 127 / -128 in
        // patterns that differ between sub-blocks (each vpermw lane its own); activations all ±127 in sign patterns
        // that flip per group, so both halves' lanes and every pair sum reach their largest of either sign
        var rng = new Random(5122);
        foreach (int n in new[] { 256, 1024 })
            foreach (int pattern in new[] { 0, 1, 2 })
            {
                var x = new float[n];
                for (int i = 0; i < n; i++)
                    x[i] = pattern switch { 0 => 1f, 1 => (i / 32) % 2 == 0 ? 1f : -1f, _ => (i / 128) % 2 == 0 ? -1f : 1f };
                x[0] = pattern == 2 ? -1f : 1f;   // the largest magnitude sets the sign of iscale: keep ±127
                Check(path, n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q6_K, n, rng);
                    for (int b = 0; b < n / 256; b++)
                    {
                        var block = row.AsSpan(b * BlockBytes, BlockBytes);
                        switch (r % 5)
                        {
                            case 0: block[..192].Fill(0xFF); break;
                            case 1: block[..192].Fill(0x00); break;
                            case 2: block[..64].Fill(0xFF); block[64..128].Fill(0x00); block[128..160].Fill(0xFF); block[160..192].Fill(0x00); break;
                            case 3: block[..64].Fill(0x0F); block[64..128].Fill(0xF0); block[128..192].Fill(0x33); break;
                        }
                        for (int s = 0; s < 16; s++)
                            block[192 + s] = (r + b + s / (1 + r % 4)) % 2 == 0 ? (byte)0x7F : (byte)0x80;
                    }
                    return row;
                }, x);
            }
    }

    private static void Check(string path, int n, Func<int, byte[]> row, float[] x) =>
        MatVecCheck.RowsMatchDot(GgmlType.Q6_K, TensorTestData.Path(path), n, Rows, RowRanges, row, x);
}

using System.Buffers.Binary;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>The Q6_K batch-1 kernel (<c>Q6_KRows</c> on the Vector256 rungs; the other rungs run the single-row
/// loop): every output of MatMulRows at batch 1 must be bit-identical to the single-row dot on the same rung, for
/// row ranges that do not divide into fours, 1, 3, 4 and 11 super-blocks, random rows, rows whose int32 lanes are
/// at their largest, special fp16 scales d (subnormal, ±0, ±65504, infinities and NaNs) and activation scales at
/// their edges (subnormal, near and past 2^16).</summary>
public class Q6_KDecodeTests
{
    private const int Rows = 13;
    private const int BlockBytes = 210;
    private static readonly (int Start, int End)[] RowRanges = [(0, 13), (1, 12), (3, 10), (4, 8), (6, 7), (5, 5), (9, 13)];
    private static readonly int[] Lengths = [256, 256 * 3, 256 * 4, 256 * 11];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    [Theory]
    [MemberData(nameof(Paths))]
    public void RandomRowsEqualTheSingleRowDotExactly(string path)
    {
        var rng = new Random(6100);
        foreach (int n in Lengths)
            Check(path, n, _ => TensorTestData.RandomRow(GgmlType.Q6_K, n, rng), TensorTestData.RandomActivations(n, rng));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void LargestLanesEqualTheSingleRowDotExactly(string path)
    {
        // quants all 63 (ql, qh bytes 0xFF) or all 0 with scales 127 or -128, against activations that quantize to
        // all -127 (x all +1: the first largest is positive, so iscale = -127) or to +127 but for one -127 per
        // block (x[0] of each block -1): every vpmaddubsw pair and int32 lane at its largest, both signs; every
        // fourth row random bytes with scales among 127, -128, -127
        var rng = new Random(6200);
        foreach (int n in new[] { 256, 256 * 3 })
            foreach (bool flipped in new[] { false, true })
            {
                var x = new float[n];
                for (int i = 0; i < n; i++) x[i] = flipped && i % 256 == 0 ? -1f : 1f;
                Check(path, n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q6_K, n, rng);
                    for (int b = 0; b < n / 256; b++)
                    {
                        var block = row.AsSpan(b * BlockBytes, BlockBytes);
                        if (r % 4 != 3) block[..192].Fill(r % 4 == 2 ? (byte)0x00 : (byte)0xFF);
                        for (int s = 192; s < 208; s++)
                            block[s] = r % 4 == 3 ? (byte)(new byte[] { 0x7F, 0x80, 0x81 })[rng.Next(3)] : (r + b) % 2 == 0 ? (byte)0x80 : (byte)0x7F;
                    }
                    return row;
                }, x);
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SpecialScalesEqualTheSingleRowDotExactly(string path)
    {
        // d subnormal, ±0, ±65504 and the smallest normal in every row, in super-blocks that move with the row;
        // rows 3..10 also get one infinity or NaN d, in a different super-block each
        ushort[] finite = [0x0001, 0x8001, 0x03FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0400];
        ushort[] special = [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55];
        int[] blocksWithSpecial = [0, 10, 5, 3, 7, 1, 9, 4];
        var rng = new Random(6300);
        const int N = 256 * 11;
        Check(path, N, r =>
        {
            var row = TensorTestData.RandomRow(GgmlType.Q6_K, N, rng);
            for (int k = 0; k < finite.Length; k++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(BlockBytes * ((k + r) % 11) + 208), finite[k]);
            if (r >= 3 && r - 3 < special.Length) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(BlockBytes * blocksWithSpecial[r - 3] + 208), special[r - 3]);
            return row;
        }, TensorTestData.RandomActivations(N, rng));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ActivationScalesAtTheEdgesEqualTheSingleRowDotExactly(string path)
    {
        // activation blocks whose d_a is an fp32 subnormal (largest |x| 1e-36: d_a = -1e-36/127), just below 2^16,
        // just above it and far above it (where an earlier form of the kernel, d_a·2^112, would have overflowed),
        // each in its own super-block
        var rng = new Random(6400);
        const int N = 256 * 4;
        foreach (float largest in new[] { 65535f * 127, 65600f * 127, 3e36f })
        {
            var x = TensorTestData.RandomActivations(N, rng);
            x[0] = 1e-36f;
            for (int i = 1; i < 256; i++) x[i] = (2 * rng.NextSingle() - 1) * 5e-37f;
            x[512] = largest;
            for (int i = 513; i < 768; i++) x[i] = (2 * rng.NextSingle() - 1) * largest;
            Check(path, N, _ => TensorTestData.RandomRow(GgmlType.Q6_K, N, rng), x);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void TheLoopedFourRowFormEqualsTheSingleRowDotExactly(string path)
    {
        // AVX-512 machines run the unrolled four-row form; this runs the loop over rows that machines with 16
        // vector registers take (a flag read per four rows; both forms must give the same bits, so tests running
        // beside this one stay valid)
        var rng = new Random(6500);
        Q6_KRows<VnniScaledDotAdd>.LoopedRowsOnly = Q6_KRows<Avx2ScaledDotAdd>.LoopedRowsOnly = true;
        try
        {
            foreach (int n in new[] { 256, 256 * 11 })
                Check(path, n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q6_K, n, rng);
                    if (r % 5 == 4) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(BlockBytes * (r % (n / 256)) + 208), (ushort)(r % 2 == 0 ? 0x7C00 : 0xFE00));
                    if (r % 5 == 2) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(BlockBytes * (n / 256 - 1) + 208), 0x0001);
                    return row;
                }, TensorTestData.RandomActivations(n, rng));
        }
        finally
        {
            Q6_KRows<VnniScaledDotAdd>.LoopedRowsOnly = Q6_KRows<Avx2ScaledDotAdd>.LoopedRowsOnly = false;
        }
    }

    [Fact]
    public unsafe void TheYmmKernelOfTheVnniRungEqualsTheSingleRowDotExactly()
    {
        // on machines with AVX-512 the VNNI rung runs Q6_KRows512; Q6_KRows<VnniScaledDotAdd> (AVX-VNNI machines
        // without it) is called directly here, in both four-row forms, on random rows with special d in some
        if (!KernelPaths.IsSupported(KernelPath.Vector256AvxVnni)) return;
        var rng = new Random(6600);
        foreach (bool looped in new[] { false, true })
            foreach (int n in new[] { 256, 256 * 4, 256 * 11 })
            {
                Q6_KRows<VnniScaledDotAdd>.LoopedRowsOnly = looped;
                try
                {
                    MatVecCheck.KernelMatchesDot(GgmlType.Q6_K, KernelPath.Vector256AvxVnni, n, 12, r =>
                    {
                        var row = TensorTestData.RandomRow(GgmlType.Q6_K, n, rng);
                        if (r % 4 == 1) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(BlockBytes * (r % (n / 256)) + 208), (ushort)(r % 8 == 1 ? 0x7C00 : 0x0003));
                        return row;
                    }, TensorTestData.RandomActivations(n, rng), &Q6_KRows<VnniScaledDotAdd>.MatVec, &Q6_KKernels.Dot256);
                }
                finally
                {
                    Q6_KRows<VnniScaledDotAdd>.LoopedRowsOnly = false;
                }
            }
    }

    private static void Check(string path, int n, Func<int, byte[]> row, float[] x) =>
        MatVecCheck.RowsMatchDot(GgmlType.Q6_K, TensorTestData.Path(path), n, Rows, RowRanges, row, x);
}

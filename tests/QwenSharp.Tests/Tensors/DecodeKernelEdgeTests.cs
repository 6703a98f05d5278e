using System.Buffers.Binary;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>The batch-1 kernels of Q4_0 and Q8_0 (paired blocks, unsigned weights; packed or horizontal-add
/// reductions) and F16 (weights read as w·2^-112, activations scaled by 2^112) at their edges: the largest integer
/// partial sums the reductions must carry (the packs must not saturate), F16 subnormals, signed zeros, ±65504, infinities and NaNs anywhere in a row (the 32-element loop, the
/// 16-element step, the scalar tail), lengths with every kind of tail, and row ranges that do not divide into
/// fours. Every output must be bit-identical to the single-row dot on the same rung.</summary>
public unsafe class DecodeKernelEdgeTests
{
    private static readonly (int Start, int End)[] RowRanges = [(0, 11), (1, 10), (3, 6), (4, 8), (6, 7), (2, 2)];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    /// <summary>Every rung, with the F16 kernels' subnormal check on and off (F16Rows.AvoidSubnormalsOverride): the
    /// CPU decides which one runs (SubnormalFma), and both must give the single-row dot's bits.</summary>
    public static TheoryData<string, bool> PathsAndSubnormalPolicies()
    {
        var data = new TheoryData<string, bool>();
        foreach (var path in TensorTestData.SupportedPaths)
        {
            data.Add(path, true);
            data.Add(path, false);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q4_0LargestPartialSumsEqualTheSingleRowDotExactly(string path)
    {
        // nibbles all 15 (bytes 0xFF) or all 0 against activations all +127 or all -127: every pair lane at
        // ±8·15·127 and every first-level pack lane at ±30480, the extremes the packed reduction relies on
        var rng = new Random(9400);
        foreach (int n in new[] { 32 * 8, 32 * 24 + 32 * 5, 32 * 5 })
            foreach (float sign in new[] { 1f, -1f })
            {
                var x = Enumerable.Repeat(sign, n).ToArray();
                Check(GgmlType.Q4_0, TensorTestData.Path(path), n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q4_0, n, rng);
                    for (int b = 0; b < row.Length / 18; b++)
                        for (int j = 2; j < 18; j++) row[b * 18 + j] = r % 3 == 2 ? (byte)rng.Next(256) : r % 3 == 0 ? (byte)0xFF : (byte)0x00;
                    return row;
                }, x);
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_0LargestPartialSumsEqualTheSingleRowDotExactly(string path)
    {
        // quants all -128 or all +127 (flipped for vpdpbusd: 0 and 255) against activations all +127 or all -127:
        // the largest pair lanes (8·255·127) and the largest sums the three horizontal adds carry, with one row in
        // three random
        var rng = new Random(9450);
        foreach (int n in new[] { 32 * 8, 32 * 24 + 32 * 5, 32 * 5 })
            foreach (float sign in new[] { 1f, -1f })
            {
                var x = Enumerable.Repeat(sign, n).ToArray();
                Check(GgmlType.Q8_0, TensorTestData.Path(path), n, r =>
                {
                    var row = TensorTestData.RandomRow(GgmlType.Q8_0, n, rng);
                    for (int b = 0; b < row.Length / 34; b++)
                        for (int j = 2; j < 34; j++) row[b * 34 + j] = r % 3 == 2 ? (byte)rng.Next(256) : r % 3 == 0 ? (byte)0x80 : (byte)0x7F;
                    return row;
                }, x);
            }
    }

    public static TheoryData<GgmlType, string> PairedTypesAndPaths()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q8_0 })
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(PairedTypesAndPaths))]
    public void SpecialScalesEqualTheSingleRowDotExactly(GgmlType type, string path)
    {
        // block scales d that are subnormal, ±0, ±65504 in every row; rows 3..10 also get one infinity or NaN scale,
        // in a group of eight or in the tail blocks (n = 19 blocks: two groups and three tail blocks)
        ushort[] finite = [0x0001, 0x8001, 0x03FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0400];
        ushort[] special = [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55];
        int[] blocksWithSpecial = [0, 7, 8, 15, 16, 18, 3, 12];
        var rng = new Random(9700 + (int)type);
        const int N = 32 * 19;
        int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
        Check(type, TensorTestData.Path(path), N, r =>
        {
            var row = TensorTestData.RandomRow(type, N, rng);
            for (int k = 0; k < finite.Length; k++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(blockBytes * ((k * 5 + r) % 19)), finite[k]);
            if (r >= 3) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(blockBytes * blocksWithSpecial[r - 3]), special[r - 3]);
            return row;
        }, TensorTestData.RandomActivations(N, rng));
    }

    [Theory]
    [MemberData(nameof(PathsAndSubnormalPolicies))]
    public void F16RandomRowsWithTailsEqualTheSingleRowDotExactly(string path, bool avoidSubnormals)
    {
        F16Rows.AvoidSubnormalsOverride = avoidSubnormals;
        try
        {
            var rng = new Random(9500);
            foreach (int n in new[] { 32 * 19 + 16 + 5, 32 * 8 + 16, 32 * 3 + 7, 48, 16, 13, 1024 })
                Check(GgmlType.F16, TensorTestData.Path(path), n, _ => TensorTestData.RandomRow(GgmlType.F16, n, rng),
                      TensorTestData.RandomActivations(n, rng));
        }
        finally { F16Rows.AvoidSubnormalsOverride = null; }
    }

    [Theory]
    [MemberData(nameof(PathsAndSubnormalPolicies))]
    public void F16SpecialHalvesEqualTheSingleRowDotExactly(string path, bool avoidSubnormals)
    {
        F16Rows.AvoidSubnormalsOverride = avoidSubnormals;
        try { F16SpecialHalves(path); }
        finally { F16Rows.AvoidSubnormalsOverride = null; }
    }

    private static void F16SpecialHalves(string path)
    {
        // finite edge values in every row; rows 3..10 also get one infinity or NaN, at a position that moves through
        // the 32-element loop, the 16-element step and the scalar tail
        ushort[] finite = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x7BFF, 0xFBFF, 0x3C00, 0xBC00];
        ushort[] special = [0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFFFF, 0x7FFF, 0x7D55];
        var rng = new Random(9600);
        foreach (int n in new[] { 32 * 4 + 16 + 5, 32 * 2 })
        {
            int[] positions = [0, 17, 40, n - 1, 33, 31, n / 2, n - 2];
            var x = TensorTestData.RandomActivations(n, rng);
            for (int i = 0; i < n; i += 7) x[i] = i % 2 == 0 ? 65504f : -65504f;
            x[3] = 0f;
            x[5] = 6e-8f;   // a subnormal half activation
            Check(GgmlType.F16, TensorTestData.Path(path), n, r =>
            {
                var row = TensorTestData.RandomRow(GgmlType.F16, n, rng);
                for (int k = 0; k < finite.Length; k++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * ((k * 11 + r) % n)), finite[k]);
                if (r >= 3) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * positions[r - 3]), special[r - 3]);
                return row;
            }, x);
        }
    }

    private static void Check(GgmlType weightType, KernelPath path, int n, Func<int, byte[]> row, float[] x) =>
        MatVecCheck.RowsMatchDot(weightType, path, n, 11, RowRanges, row, x);
}

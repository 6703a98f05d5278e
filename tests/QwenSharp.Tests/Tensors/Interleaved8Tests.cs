using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Q4_0 and Q8_0 repacked into groups of eight interleaved rows (<see cref="Interleaved8{TBlock}"/>): the
/// repack is lossless, and MatMulRows over the repacked matrix gives, bit for bit, what the standard layout gives on the same
/// rung (its own batch-1 and small-batch kernels; larger batches through the standard kernels on un-interleaved rows), for
/// row ranges that cut groups, extreme bytes and infinite or NaN scales.</summary>
public unsafe class Interleaved8Tests
{
    private const int Rows = 40;
    private static readonly int[] Lengths = [256, 1024, 2816];
    private static readonly (int Start, int End)[] RowRanges = [(0, 40), (0, 8), (8, 16), (3, 21), (5, 6), (9, 9), (33, 40)];

    private static readonly GgmlType[] Types = [GgmlType.Q4_0, GgmlType.Q8_0];

    public static TheoryData<GgmlType, string> Cases()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in Types)
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, path);
        return data;
    }

    internal static byte[] RandomMatrix(GgmlType type, int rows, int n, Random rng)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) TensorTestData.RandomRow(type, n, rng).CopyTo(weights, r * rowBytes);
        return weights;
    }

    /// <summary>batch activation rows of n random values, one after another.</summary>
    internal static float[] RandomBatch(int batch, int n, Random rng)
    {
        var x = new float[batch * n];
        for (int b = 0; b < batch; b++) TensorTestData.RandomActivations(n, rng).CopyTo(x, b * n);
        return x;
    }

    internal static byte[] Interleaved(GgmlType type, byte[] standard, int rows, int n)
    {
        var copy = (byte[])standard.Clone();
        fixed (byte* p = copy) Interleaved8.Interleave(type, p, rows, n);
        return copy;
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 144, 18, 0)]
    [InlineData(GgmlType.Q8_0, 272, 34, 0x80)]
    public void InterleavingIsLosslessAndPutsEveryByteWhereTheKernelReadsIt(GgmlType type, int record, int block, int flip)
    {
        var rng = new Random(7100);
        foreach (int n in Lengths)
        {
            var standard = RandomMatrix(type, 16, n, rng);
            var packed = Interleaved(type, standard, 16, n);
            long rowBytes = GgmlTypeInfo.RowBytes(type, n);
            // record b of group 0: row r's d at 2r, its quant bytes 4j..4j+3 at 16 + 32j + 4r (Q8_0's sign-flipped)
            Assert.Equal(standard[rowBytes * 3 + block], packed[record + 6]);                                   // row 3, block 1, d low byte
            Assert.Equal(standard[rowBytes * 5 + block + 2 + 9] ^ flip, packed[record + 16 + 32 * 2 + 4 * 5 + 1]); // row 5, block 1, quant byte 9
            AssertUndoes(type, standard, packed, n, [0, 3, 7, 8, 13, 15]);
        }
    }

    /// <summary>16 interleaved rows (<paramref name="packed"/>, two groups) give back <paramref name="standard"/>
    /// whole (Deinterleave) and row by row (CopyRow, for the rows named).</summary>
    internal static void AssertUndoes(GgmlType type, byte[] standard, byte[] packed, int n, int[] rows)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        var back = new byte[standard.Length];
        fixed (byte* src = packed, dst = back) Interleaved8.Deinterleave(type, src, dst, 2, n);
        Assert.Equal(standard, back);
        var row = new byte[rowBytes];
        fixed (byte* src = packed, dst = row)
            foreach (int r in rows)
            {
                Interleaved8.CopyRow(type, src, r, n, dst);
                Assert.Equal(standard.AsSpan((int)(r * rowBytes), (int)rowBytes).ToArray(), row);
            }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BatchOneEqualsTheStandardLayoutExactly(GgmlType type, string path)
    {
        var rng = new Random(7200);
        foreach (int n in Lengths)
            Check(type, TensorTestData.Path(path), n, RandomMatrix(type, Rows, n, rng), TensorTestData.RandomActivations(n, rng), batch: 1);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LargerBatchesEqualTheStandardLayoutExactly(GgmlType type, string path)
    {
        var rng = new Random(7300);
        foreach (int batch in new[] { 2, 3, 8, 16, 17, 64 })
        {
            const int n = 512;
            Check(type, TensorTestData.Path(path), n, RandomMatrix(type, Rows, n, rng), RandomBatch(batch, n, rng), batch);
        }
    }

    /// <summary>Prepared activation values past the 32 KiB stack budget go to a per-thread buffer: batch 1 past
    /// n = 131,072, batch 9 past n = 14,563.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void RowsPastTheStackScratchEqualTheStandardLayoutExactly(GgmlType type, string path)
    {
        var rng = new Random(7600);
        foreach (var (n, batch) in new[] { (256 * 520, 1), (256 * 60, 9) })
        {
            Check(type, TensorTestData.Path(path), n, RandomMatrix(type, Rows, n, rng), RandomBatch(batch, n, rng), batch);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExtremeBytesEqualTheStandardLayoutExactly(GgmlType type, string path)
    {
        // Q4_0: every nibble 0 or 15 (q = -8 or +7); Q8_0: every byte -128 or -1; activations ±1 (quantized to
        // ±127); scales kept sane
        var rng = new Random(7400);
        const int n = 1024;
        int block = GgmlTypeInfo.Block(type).TypeSize;
        var weights = RandomMatrix(type, Rows, n, rng);
        for (int i = 0; i < weights.Length; i++)
            if (i % block >= 2) weights[i] = (i / block) % 3 == 0 ? (byte)(type == GgmlType.Q8_0 ? 0x80 : 0x00) : (byte)0xFF;
        foreach (int batch in new[] { 1, 5 })
        {
            var x = new float[batch * n];
            for (int i = 0; i < x.Length; i++) x[i] = i % 3 == 0 ? -1f : 1f;
            Check(type, TensorTestData.Path(path), n, weights, x, batch);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InfiniteAndNaNScalesGiveWhatTheStandardLayoutGives(GgmlType type, string path)
    {
        var rng = new Random(7500);
        const int n = 512;
        var weights = RandomMatrix(type, Rows, n, rng);
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        int block = GgmlTypeInfo.Block(type).TypeSize;
        // row 3 block 5: +inf; row 17 block 0: NaN; row 30 block 15 (the last): -inf
        weights[3 * rowBytes + 5 * block] = 0x00; weights[3 * rowBytes + 5 * block + 1] = 0x7C;
        weights[17 * rowBytes] = 0x01; weights[17 * rowBytes + 1] = 0x7E;
        weights[30 * rowBytes + 15 * block] = 0x00; weights[30 * rowBytes + 15 * block + 1] = 0xFC;
        foreach (int batch in new[] { 1, 4 })
        {
            Check(type, TensorTestData.Path(path), n, weights, RandomBatch(batch, n, rng), batch);
        }
    }

    [Fact]
    public void OtherTypesAndRowsOfPartGroupsAreRefused()
    {
        var weights = new byte[64 * 34];
        var activation = new byte[8 * 34];
        var output = new float[8];
        fixed (byte* w = weights, a = activation)
        fixed (float* o = output)
        {
            byte* pw = w, pa = a;
            float* po = o;
            Assert.Throws<QwenSharpException>(() => VecDot.MatMulRows(GgmlType.Q5_K, WeightLayout.Interleaved8, pw, 256, 0, 8, pa, 1, po, 8));
            Assert.Throws<QwenSharpException>(() => VecDot.MatMulRows(GgmlType.Q4_0, WeightLayout.Interleaved8, pw, 96, 0, 8, pa, 1, po, 8));
        }
        Assert.False(Interleaved8.Eligible(GgmlType.Q4_0, 12, 256));
        Assert.False(Interleaved8.Eligible(GgmlType.Q4_0, 16, 288));
        Assert.False(Interleaved8.Eligible(GgmlType.Q5_K, 16, 256));
        Assert.Equal(System.Runtime.Intrinsics.X86.AvxVnni.IsSupported, Interleaved8.Eligible(GgmlType.Q8_0, 16, 256));
    }

    /// <summary>MatMulRows over the interleaved copy against the standard layout on the same rung, range by range:
    /// rows outside the range untouched, rows inside bit-identical (NaN where the standard gives NaN). Shared with
    /// Q6_KInterleavedTests (a layout with the same promise).</summary>
    internal static void Check(GgmlType type, KernelPath path, int n, byte[] standard, float[] x, int batch)
    {
        var packed = Interleaved(type, standard, Rows, n);
        long actBytes = VecDot.ActivationRowBytes(type, n);
        var activations = new byte[batch * actBytes];
        for (int b = 0; b < batch; b++)
            VecDot.QuantizeActivation(type, x.AsSpan(b * n, n), activations.AsSpan((int)(b * actBytes), (int)actBytes), path);
        int stride = Rows + 1;
        var expected = new float[batch * stride];
        var got = new float[batch * stride];
        fixed (byte* ps = standard, pp = packed, pa = activations)
        fixed (float* pe = expected, pg = got)
            foreach (var (start, end) in RowRanges)
            {
                Array.Fill(expected, float.NaN);
                Array.Fill(got, float.NaN);
                VecDot.MatMulRows(type, ps, n, start, end, pa, batch, pe, stride, path);
                VecDot.MatMulRows(type, WeightLayout.Interleaved8, pp, n, start, end, pa, batch, pg, stride, path);
                for (int b = 0; b < batch; b++)
                    for (int r = 0; r < stride; r++)
                    {
                        float e = expected[b * stride + r], g = got[b * stride + r];
                        string where = $"{type} {path} n {n} batch {batch} rows [{start}, {end}): activation {b} row {r}";
                        if (r < start || r >= end) { Assert.True(float.IsNaN(g), $"{where} outside the call was written"); continue; }
                        if (float.IsNaN(e)) { Assert.True(float.IsNaN(g), $"{where} = {g:R}, standard NaN"); continue; }
                        Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(g),
                                    $"{where} = {g:R} ({BitConverter.SingleToInt32Bits(g):X8}), standard {e:R} ({BitConverter.SingleToInt32Bits(e):X8})");
                    }
            }
    }
}

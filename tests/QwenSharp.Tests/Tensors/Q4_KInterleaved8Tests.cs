using System.Buffers.Binary;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Q4_K repacked into groups of eight interleaved rows (<see cref="Q4_KInterleaved8"/>): the repack is
/// lossless; on the AVX2 rungs every output of MatMulRows, for every batch size and row range, is bit for bit the
/// scalar twin <see cref="Q4_KInterleaved8.ReferenceDot"/> of its row (so a row's output never depends on the rest of
/// the batch), including extreme quants and scales, infinite and NaN d; on the other rungs it is the standard layout's;
/// and the twin is a correct dot (within float rounding of the exact value, as the standard kernels are).</summary>
public unsafe class Q4_KInterleaved8Tests
{
    private const int Rows = 40, Block = 144;
    private static readonly (int Start, int End)[] RowRanges = [(0, 40), (0, 8), (8, 16), (3, 21), (5, 6), (9, 9), (33, 40)];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    private static byte[] RandomMatrix(int rows, int n, Random rng)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_K, n);
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) TensorTestData.RandomRow(GgmlType.Q4_K, n, rng).CopyTo(weights, r * rowBytes);
        return weights;
    }

    private static float[] RandomBatch(int batch, int n, Random rng)
    {
        var x = new float[batch * n];
        for (int b = 0; b < batch; b++) TensorTestData.RandomActivations(n, rng).CopyTo(x, b * n);
        return x;
    }

    private static byte[] Interleaved(byte[] standard, int rows, int n)
    {
        var copy = (byte[])standard.Clone();
        fixed (byte* p = copy) Interleaved8.Interleave(GgmlType.Q4_K, p, rows, n);
        return copy;
    }

    private static byte[] Quantized(float[] x, int batch, int n, KernelPath path)
    {
        long actBytes = VecDot.ActivationRowBytes(GgmlType.Q4_K, n);
        var activations = new byte[batch * actBytes];
        for (int b = 0; b < batch; b++)
            VecDot.QuantizeActivation(GgmlType.Q4_K, x.AsSpan(b * n, n), activations.AsSpan((int)(b * actBytes), (int)actBytes), path);
        return activations;
    }

    [Fact]
    public void InterleavingIsLosslessAndPutsEveryWordWhereTheKernelReadsIt()
    {
        var rng = new Random(8100);
        foreach (int n in new[] { 256, 1024, 2816 })
        {
            var standard = RandomMatrix(16, n, rng);
            var packed = Interleaved(standard, 16, n);
            long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_K, n);
            // group 1 (rows 8..15), super-block 0: word i of row r at 32i + 4r; row 13's nibble byte 37 is word 13
            long group1 = 8 * rowBytes;
            Assert.Equal(standard[13 * rowBytes + 16 + 37], packed[group1 + 32 * 13 + 4 * 5 + 1]);
            Assert.Equal(standard[9 * rowBytes + 4 + 10], packed[group1 + 32 * 3 + 4 * 1 + 2]);   // packed scale byte 10
            Interleaved8Tests.AssertUndoes(GgmlType.Q4_K, standard, packed, n, [0, 7, 8, 13, 15]);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryBatchGivesEachRowItsScalarTwinExactly(string path)
    {
        var rng = new Random(8200);
        foreach (var (n, batch) in new[] { (256, 1), (1024, 1), (2816, 1), (512, 2), (512, 3), (512, 4), (768, 5), (512, 8), (256, 17) })
            Check(TensorTestData.Path(path), n, RandomMatrix(Rows, n, rng), RandomBatch(batch, n, rng), batch);
    }

    /// <summary>Prepared activation pairs past the stack budget (4096 ints) go to a per-thread buffer.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void PreparedValuesPastTheStackEqualTheTwinExactly(string path)
    {
        var rng = new Random(8300);
        foreach (var (n, batch) in new[] { (256 * 1100, 1), (256 * 60, 18) })
            Check(TensorTestData.Path(path), n, RandomMatrix(Rows, n, rng), RandomBatch(batch, n, rng), batch);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ExtremeQuantsScalesAndActivationsEqualTheTwinExactly(string path)
    {
        // every 6-bit scale and min 63 (packed bytes 0xFF) in two rows of three, nibbles all 15 or all 0, activations
        // ±1 (quantized to ±127): S at 8·63·32·15·127 per super-block; one row with d = 65504, dmin = -65504
        var rng = new Random(8400);
        const int n = 1024;
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_K, n);
        var weights = RandomMatrix(Rows, n, rng);
        for (int r = 0; r < Rows; r++)
            for (int b = 0; b < n / 256; b++)
            {
                int at = (int)(r * rowBytes) + b * Block;
                if (r % 3 != 2) weights.AsSpan(at + 4, 12).Fill(0xFF);
                if (r % 3 != 1) weights.AsSpan(at + 16, 128).Fill(r % 3 == 0 ? (byte)0xFF : (byte)0x00);
                if (r == 4) { SetHalf(weights, at, 0x7BFF); SetHalf(weights, at + 2, 0xFBFF); }
            }
        foreach (int batch in new[] { 1, 5 })
        {
            var x = new float[batch * n];
            for (int i = 0; i < x.Length; i++) x[i] = i % 3 == 0 ? -1f : 1f;
            Check(TensorTestData.Path(path), n, weights, x, batch);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SpecialHalvesAndActivationScalesEqualTheTwinExactly(string path)
    {
        // subnormal, zero and largest d/dmin; infinities and NaNs; a super-block of tiny activations (d_a near 1e-32)
        // and one of huge ones (d_a near 8e7)
        ushort[] halves = [0x0001, 0x8001, 0x03FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01];
        var rng = new Random(8500);
        const int n = 256 * 4;
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_K, n);
        var weights = RandomMatrix(Rows, n, rng);
        for (int k = 0; k < halves.Length; k++)
        {
            int r = (5 * k + 3) % Rows, field = k % 8;   // field: super-block field / 2, d (even) or dmin (odd)
            SetHalf(weights, (int)(r * rowBytes) + Block * (field / 2) + 2 * (field % 2), halves[k]);
        }
        foreach (int batch in new[] { 1, 6 })
        {
            var x = RandomBatch(batch, n, rng);
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < 256; i++) x[b * n + 512 + i] *= 1e-30f;
                x[b * n + 256 + 17] = 1e10f;
            }
            Check(TensorTestData.Path(path), n, weights, x, batch);
        }
    }

    [Fact]
    public void TheTwinIsTheDotWithinFloatRounding()
    {
        // S and M exactly in double, then Σ_b S·d·d_a - M·dmin·d_a; the twin (and Dot256, for scale) within 2^-20 of
        // the sum of the terms' magnitudes
        var rng = new Random(8600);
        foreach (int n in new[] { 256, 2816, 256 * 40 })
        {
            var row = TensorTestData.RandomRow(GgmlType.Q4_K, n, rng);
            var act = Quantized(TensorTestData.RandomActivations(n, rng), 1, n, KernelPath.Scalar);
            fixed (byte* w = row, a = act)
            {
                var (exact, magnitude) = Exact(w, a, n);
                float twin = Q4_KInterleaved8.ReferenceDot(w, a, n), scalar = Q4_KKernels.DotScalar(w, a, n);
                Assert.True(Math.Abs(twin - exact) <= magnitude / (1 << 20), $"n {n}: twin {twin:R}, exact {exact:R}");
                Assert.True(Math.Abs(scalar - exact) <= magnitude / (1 << 20), $"n {n}: DotScalar {scalar:R}, exact {exact:R}");
            }
        }
    }

    [Fact]
    public void PartGroupsAreRefused()
    {
        Assert.False(Interleaved8.Eligible(GgmlType.Q4_K, 12, 256));
        Assert.False(Interleaved8.Eligible(GgmlType.Q4_K, 16, 288));
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported,
                     Interleaved8.Eligible(GgmlType.Q4_K, 16, 256));
    }

    private static (double Exact, double Magnitude) Exact(byte* w, byte* a, int n)
    {
        double sum = 0, magnitude = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += Q8_KLayout.BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + Q8_KLayout.QuantsOffset);
            long s = 0, m = 0;
            for (int i = 0; i < 256; i++)
            {
                int j = i / 64, high = (i / 32) % 2;
                int q = high == 0 ? w[16 + 32 * j + i % 32] & 15 : w[16 + 32 * j + i % 32] >> 4;
                s += (long)KQuantScales.Byte(scales, i / 32) * q * y[i];
                m += (long)KQuantScales.Byte(mins, i / 32) * y[i];
            }
            double da = *(float*)a, d = Fp16.ToSingle(w), dmin = Fp16.ToSingle(w + 2);
            sum += s * d * da - m * dmin * da;
            magnitude += Math.Abs(s * d * da) + Math.Abs(m * dmin * da);
        }
        return (sum, magnitude);
    }

    private static void SetHalf(byte[] bytes, int offset, ushort half) => BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(offset), half);

    /// <summary>MatMulRows over the interleaved copy, range by range: rows outside the range untouched, rows inside
    /// bit-identical to the twin (AVX2 rungs) or to the standard layout on the same rung (the others).</summary>
    private static void Check(KernelPath path, int n, byte[] standard, float[] x, int batch)
    {
        var packed = Interleaved(standard, Rows, n);
        var activations = Quantized(x, batch, n, path);
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_K, n), actBytes = VecDot.ActivationRowBytes(GgmlType.Q4_K, n);
        bool twin = path is KernelPath.Vector256Avx2 or KernelPath.Vector256AvxVnni or KernelPath.Vector512;
        int stride = Rows + 1;
        var expected = new float[batch * stride];
        var got = new float[batch * stride];
        fixed (byte* ps = standard, pp = packed, pa = activations)
        fixed (float* pe = expected, pg = got)
        {
            if (twin)
                for (int b = 0; b < batch; b++)
                    for (int r = 0; r < Rows; r++) pe[b * stride + r] = Q4_KInterleaved8.ReferenceDot(ps + r * rowBytes, pa + b * actBytes, n);
            foreach (var (start, end) in RowRanges)
            {
                if (!twin) { Array.Fill(expected, float.NaN); VecDot.MatMulRows(GgmlType.Q4_K, ps, n, start, end, pa, batch, pe, stride, path); }
                Array.Fill(got, float.NaN);
                VecDot.MatMulRows(GgmlType.Q4_K, WeightLayout.Interleaved8, pp, n, start, end, pa, batch, pg, stride, path);
                for (int b = 0; b < batch; b++)
                    for (int r = 0; r < stride; r++)
                    {
                        float e = expected[b * stride + r], g = got[b * stride + r];
                        string where = $"{path} n {n} batch {batch} rows [{start}, {end}): activation {b} row {r}";
                        if (r < start || r >= end) { Assert.True(float.IsNaN(g), $"{where} outside the call was written"); continue; }
                        if (float.IsNaN(e)) { Assert.True(float.IsNaN(g), $"{where} = {g:R}, expected NaN"); continue; }
                        Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(g),
                                    $"{where} = {g:R} ({BitConverter.SingleToInt32Bits(g):X8}), expected {e:R} ({BitConverter.SingleToInt32Bits(e):X8})");
                    }
            }
        }
    }
}

using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

public class ActivationTests
{
    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void EveryRungWritesTheReferenceBytes(GgmlType weightType, string path)
    {
        var rng = new Random(2000 + (int)weightType);
        int n = TensorTestData.TestLength(weightType);
        var x = TensorTestData.RandomActivations(n, rng);
        x[5] = 0;                                         // exact zeros and a zero block are legal inputs
        if (GgmlTypeInfo.Block(weightType).BlockSize > 1) Array.Clear(x, n - GgmlTypeInfo.Block(weightType).BlockSize, GgmlTypeInfo.Block(weightType).BlockSize);
        var expected = new byte[VecDot.ActivationRowBytes(weightType, n)];
        ReferenceKernels.QuantizeActivation(weightType, x, expected);
        var actual = new byte[expected.Length];
        VecDot.QuantizeActivation(weightType, x, actual, TensorTestData.Path(path));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ActivationTypesFollowLlamaCppVecDotTypes()
    {
        Assert.Equal(GgmlType.F32, VecDot.ActivationType(GgmlType.F32));
        Assert.Equal(GgmlType.F16, VecDot.ActivationType(GgmlType.F16));
        Assert.Equal(GgmlType.BF16, VecDot.ActivationType(GgmlType.BF16));
        foreach (var t in new[] { GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q8_0 }) Assert.Equal(GgmlType.Q8_0, VecDot.ActivationType(t));
        foreach (var t in new[] { GgmlType.Q4_1, GgmlType.Q5_1 }) Assert.Equal(GgmlType.Q8_1, VecDot.ActivationType(t));
        foreach (var t in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K }) Assert.Equal(GgmlType.Q8_K, VecDot.ActivationType(t));
        Assert.Equal(36 * 4, VecDot.ActivationRowBytes(GgmlType.Q4_1, 128));
        Assert.Equal(292 * 2, VecDot.ActivationRowBytes(GgmlType.Q6_K, 512));
        Assert.Throws<QwenSharpException>(() => VecDot.ActivationType(GgmlType.IQ4_NL));
        Assert.Throws<QwenSharpException>(() => VecDot.ActivationRowBytes(GgmlType.Q4_K, 128));
    }

    /// <summary>amax = 127 makes the multiplier exactly 1, so the quants are the inputs rounded half to even
    /// (llama.cpp's AVX path uses _mm256_round_ps with _MM_ROUND_NEAREST, not roundf).</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_0RoundsHalfToEven(string path)
    {
        var x = new float[32];
        float[] values = [2.5f, 3.5f, -2.5f, 0.5f, -0.5f, 1.5f, 126.5f, -127f, 127f, 0.49f, 10.51f];
        values.CopyTo(x, 0);
        var block = new byte[34];
        VecDot.QuantizeActivation(GgmlType.Q8_0, x, block, TensorTestData.Path(path));
        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(block));   // d = 127/127 = 1
        sbyte[] expected = [2, 4, -2, 0, 0, 2, 126, -127, 127, 0, 11];
        for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], (sbyte)block[2 + j]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_1StoresTheScaledSumOfItsQuants(string path)
    {
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j - 10;            // amax 21 at j = 31
        var block = new byte[36];
        VecDot.QuantizeActivation(GgmlType.Q4_1, x, block, TensorTestData.Path(path));
        float d = 21f / 127f;
        int sum = 0;
        for (int j = 0; j < 32; j++)
        {
            int q = (sbyte)block[4 + j];
            Assert.Equal((int)Math.Round((j - 10) * (127f / 21f), MidpointRounding.ToEven), q);
            sum += q;
        }
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)d), BinaryPrimitives.ReadUInt16LittleEndian(block));
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)(d * sum)), BinaryPrimitives.ReadUInt16LittleEndian(block.AsSpan(2)));
    }

    /// <summary>Q8_K takes its scale from the signed maximum: the value of largest magnitude maps to exactly -127,
    /// so d is negative when that value is positive.</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_KUsesTheSignedMaximum(string path)
    {
        foreach (float sign in new[] { 1f, -1f })
        {
            var x = new float[256];
            var rng = new Random(3);
            for (int j = 0; j < 256; j++) x[j] = (rng.NextSingle() - 0.5f) * 6f;
            x[77] = 4f * sign;                       // the largest magnitude
            x[200] = -4f * sign;                     // ties with it, but comes later: the first one wins
            x[10] = 2f * sign;                       // iscale·x = -63.5: rounds to even (-64)
            var block = new byte[292];
            VecDot.QuantizeActivation(GgmlType.Q4_K, x, block, TensorTestData.Path(path));
            float iscale = -127f / (4f * sign);
            Assert.Equal(1f / iscale, BinaryPrimitives.ReadSingleLittleEndian(block));
            Assert.Equal(-127, (sbyte)block[4 + 77]);
            Assert.Equal(127, (sbyte)block[4 + 200]);
            Assert.Equal(-64, (sbyte)block[4 + 10]);
            float d = BinaryPrimitives.ReadSingleLittleEndian(block);
            for (int j = 0; j < 256; j++) Assert.True(Math.Abs(x[j] - d * (sbyte)block[4 + j]) <= Math.Abs(d) * 0.5001f, $"element {j}");
            for (int k = 0; k < 16; k++)
            {
                int sum = 0;
                for (int j = 0; j < 16; j++) sum += (sbyte)block[4 + 16 * k + j];
                Assert.Equal(sum, BinaryPrimitives.ReadInt16LittleEndian(block.AsSpan(260 + 2 * k)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_KOfZerosIsAllZero(string path)
    {
        var block = Enumerable.Repeat((byte)0xAB, 292).ToArray();
        VecDot.QuantizeActivation(GgmlType.Q6_K, new float[256], block, TensorTestData.Path(path));
        Assert.All(block, b => Assert.Equal(0, b));
    }

    /// <summary>fp16 rounding: ties to even at the 2^-11 quantum near 1, in the subnormal range, and at the
    /// overflow edge (65520 is the tie between 65504 and infinity).</summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void F16ActivationsRoundHalfToEven(string path)
    {
        (float Input, ushort Half)[] cases =
        [
            (1f + MathF.Pow(2, -11), 0x3C00), (1f + 3 * MathF.Pow(2, -11), 0x3C02), (1f + 1.5f * MathF.Pow(2, -11), 0x3C01),
            (-2f, 0xC000), (65504f, 0x7BFF), (65519f, 0x7BFF), (65520f, 0x7C00), (1e9f, 0x7C00), (float.NegativeInfinity, 0xFC00),
            (MathF.Pow(2, -24), 0x0001), (MathF.Pow(2, -25), 0x0000), (3 * MathF.Pow(2, -25), 0x0002), (MathF.Pow(2, -14) * 1023f / 1024f, 0x03FF),
            (MathF.Pow(2, -14) * (2047f / 2048f), 0x0400), (0f, 0x0000), (-0f, 0x8000), (1e-30f, 0x0000),
        ];
        var x = new float[cases.Length];
        for (int i = 0; i < cases.Length; i++) x[i] = cases[i].Input;
        var bytes = new byte[2 * x.Length];
        VecDot.QuantizeActivation(GgmlType.F16, x, bytes, TensorTestData.Path(path));
        for (int i = 0; i < cases.Length; i++)
            Assert.True(cases[i].Half == BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)), $"{cases[i].Input:R} -> 0x{BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)):X4}, want 0x{cases[i].Half:X4}");
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void F16ActivationsMatchSystemHalfOverEveryExponent(string path)
    {
        var rng = new Random(11);
        var x = new float[20_000];
        for (int i = 0; i < x.Length; i++)
            do x[i] = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31)); while (float.IsNaN(x[i]));
        var bytes = new byte[2 * x.Length];
        VecDot.QuantizeActivation(GgmlType.F16, x, bytes, TensorTestData.Path(path));
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)x[i]), BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void BF16ActivationsRoundHalfToEvenAndKeepNaNQuiet(string path)
    {
        (uint Input, ushort Bf16)[] cases =
        [
            (0x3F80_8000, 0x3F80), (0x3F81_8000, 0x3F82), (0x3F80_8001, 0x3F81), (0x3F80_7FFF, 0x3F80),
            (0x7F7F_FFFF, 0x7F80), (0x7F80_0000, 0x7F80), (0x7F80_0001, 0x7FC0), (0x0000_8000, 0x0000), (0x8001_8000, 0x8002),
        ];
        var x = cases.Select(c => BitConverter.UInt32BitsToSingle(c.Input)).ToArray();
        var bytes = new byte[2 * x.Length];
        VecDot.QuantizeActivation(GgmlType.BF16, x, bytes, TensorTestData.Path(path));
        for (int i = 0; i < cases.Length; i++) Assert.Equal(cases[i].Bf16, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
    }

    [Fact]
    public void ShortDestinationIsAClearError() =>
        Assert.Throws<QwenSharpException>(() => VecDot.QuantizeActivation(GgmlType.Q4_0, new float[64], new byte[67]));
}

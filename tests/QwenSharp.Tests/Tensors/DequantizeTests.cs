using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

public class DequantizeTests
{
    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void EveryRungMatchesTheReferenceBitForBit(GgmlType type, string path)
    {
        var rng = new Random(1000 + (int)type);
        int n = TensorTestData.TestLength(type);
        var row = TensorTestData.RandomRow(type, n, rng);
        var expected = new float[n];
        ReferenceKernels.DequantizeRow(type, row, expected);
        var actual = new float[n];
        Dequantize.Row(type, row, actual, TensorTestData.Path(path));
        for (int i = 0; i < n; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{type} on {path}: element {i} is {actual[i]:R}, reference {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(TensorTestData.Types), MemberType = typeof(TensorTestData))]
    public void PublicEntryPointUsesTheBestRung(GgmlType type)
    {
        int n = TensorTestData.TestLength(type);
        var row = TensorTestData.RandomRow(type, n, new Random(7));
        var expected = new float[n];
        ReferenceKernels.DequantizeRow(type, row, expected);
        var actual = new float[n];
        Dequantize.Row(type, row, actual);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(SupportedPathNames))]
    public void EveryHalfBitPatternDecodesLikeSystemHalf(string path)
    {
        var row = new byte[2 * 65536];
        for (int h = 0; h < 65536; h++) BitConverter.TryWriteBytes(row.AsSpan(2 * h), (ushort)h);
        var actual = new float[65536];
        Dequantize.Row(GgmlType.F16, row, actual, TensorTestData.Path(path));
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual[h]), $"half 0x{h:X4} should be NaN");
            else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual[h]), $"half 0x{h:X4}: {actual[h]:R} != {expected:R}");
        }
    }

    [Theory]
    [MemberData(nameof(SupportedPathNames))]
    public void EveryBFloat16BitPatternIsTheTopHalfOfAFloat(string path)
    {
        var row = new byte[2 * 65536];
        for (int h = 0; h < 65536; h++) BitConverter.TryWriteBytes(row.AsSpan(2 * h), (ushort)h);
        var actual = new float[65536];
        Dequantize.Row(GgmlType.BF16, row, actual, TensorTestData.Path(path));
        for (int h = 0; h < 65536; h++) Assert.Equal((uint)h << 16, BitConverter.SingleToUInt32Bits(actual[h]));
    }

    public static TheoryData<string> SupportedPathNames() => new(TensorTestData.SupportedPaths);

    [Fact]
    public void UnsupportedTypeIsAClearError()
    {
        var ex = Assert.Throws<QwenSharpException>(() => Dequantize.Row(GgmlType.IQ2_XXS, new byte[66], new float[256]));
        Assert.Contains("iq2_xxs", ex.Message);
        Assert.Throws<QwenSharpException>(() => Dequantize.Row((GgmlType)99, new byte[66], new float[256]));
    }

    [Fact]
    public void ShortSourceOrPartialBlockIsAClearError()
    {
        Assert.Throws<QwenSharpException>(() => Dequantize.Row(GgmlType.Q4_0, new byte[17], new float[32]));
        Assert.Throws<QwenSharpException>(() => Dequantize.Row(GgmlType.Q4_K, new byte[144], new float[100]));
    }
}

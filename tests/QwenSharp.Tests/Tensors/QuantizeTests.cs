using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

public class QuantizeTests
{
    private static float[] RoundTrip(GgmlType type, float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        Quantize.Row(type, x, bytes);
        var y = new float[x.Length];
        Dequantize.Row(type, bytes, y);
        return y;
    }

    [Fact]
    public void CanQuantizeTheFileTypesOnly()
    {
        foreach (var t in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1 })
            Assert.True(Quantize.CanQuantize(t), t.ToString());
        foreach (var t in new[] { GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q8_K, GgmlType.IQ4_NL })
        {
            Assert.False(Quantize.CanQuantize(t), t.ToString());
            Assert.Throws<QwenSharpException>(() => Quantize.Row(t, new float[256], new byte[1024]));
        }
        Assert.Throws<QwenSharpException>(() => Quantize.Row(GgmlType.Q8_0, new float[40], new byte[100]));
        Assert.Throws<QwenSharpException>(() => Quantize.Row(GgmlType.Q8_0, new float[32], new byte[33]));
    }

    [Fact]
    public void FloatFormatsRoundToNearest()
    {
        var x = TensorTestData.RandomActivations(1000, new Random(1));
        Assert.Equal(x, RoundTrip(GgmlType.F32, x));
        var f16 = RoundTrip(GgmlType.F16, x);
        var bf16 = RoundTrip(GgmlType.BF16, x);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal((float)(Half)x[i], f16[i]);
            Assert.True(Math.Abs(bf16[i] - x[i]) <= Math.Abs(x[i]) * MathF.Pow(2, -8), $"bf16 {x[i]} -> {bf16[i]}");
        }
    }

    /// <summary>Q8_0: d = amax/127 and q = round(x/d), so every value comes back within half a step (plus the fp16
    /// rounding of d, at most 127·d·2^-11).</summary>
    [Fact]
    public void Q8_0RoundTripIsWithinHalfAStep()
    {
        var rng = new Random(2);
        var x = TensorTestData.RandomActivations(32 * 40, rng);
        var y = RoundTrip(GgmlType.Q8_0, x);
        for (int b = 0; b < 40; b++)
        {
            float amax = x.Skip(32 * b).Take(32).Max(Math.Abs);
            float d = amax / 127;
            for (int j = 32 * b; j < 32 * b + 32; j++)
                Assert.True(Math.Abs(x[j] - y[j]) <= d * (0.5f + 127f / 2048f), $"element {j}: {x[j]} -> {y[j]}");
        }
    }

    /// <summary>Worked by hand: the block's signed maximum is -8, so d = -8/-8 = 1 and q = min(15, trunc(x + 8.5)):
    /// -8 -> 0, -0.6 -> 7, 0.4 -> 8, 6.6 -> 15, 7.4 -> 15 (16 clamped), 3.5 -> 12, -3.5 -> 5, 0 -> 8.
    /// Element j sits in the low nibble of byte 2 + j, element j + 16 in its high nibble.</summary>
    [Fact]
    public void Q4_0MatchesTheReferenceQuantizerByHand()
    {
        var x = new float[32];
        x[0] = -8f; x[1] = -0.6f; x[2] = 0.4f; x[3] = 6.6f; x[4] = 7.4f; x[16] = 3.5f; x[17] = -3.5f;
        var bytes = new byte[18];
        Quantize.Row(GgmlType.Q4_0, x, bytes);
        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(bytes));      // d = 1
        Assert.Equal(0 | 12 << 4, bytes[2]);
        Assert.Equal(7 | 5 << 4, bytes[3]);
        Assert.Equal(8 | 8 << 4, bytes[4]);
        Assert.Equal(15 | 8 << 4, bytes[5]);
        Assert.Equal(15 | 8 << 4, bytes[6]);
    }

    [Fact]
    public void Q4_0FlipsTheScaleSignForAPositiveMaximum()
    {
        var x = new float[32];
        x[0] = 8f; x[1] = -8f; x[2] = 1f;                                          // first of the tied magnitudes wins: d = 8/-8 = -1
        var y = RoundTrip(GgmlType.Q4_0, x);
        Assert.Equal(8f, y[0]);                                                    // q = trunc(-8 + 8.5) = 0 -> (0-8)·-1
        Assert.Equal(-7f, y[1]);                                                   // q = min(15, 16) = 15 -> (15-8)·-1: clamped
        Assert.Equal(1f, y[2]);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    public void RoundTripErrorIsBoundedByTheStep(GgmlType type)
    {
        var rng = new Random(3 + (int)type);
        var x = TensorTestData.RandomActivations(32 * 50, rng);
        var y = RoundTrip(type, x);
        int levels = type is GgmlType.Q4_0 or GgmlType.Q4_1 ? 16 : 32;
        for (int b = 0; b < 50; b++)
        {
            var block = x.AsSpan(32 * b, 32).ToArray();
            float step = type is GgmlType.Q4_0 or GgmlType.Q5_0
                ? block.Max(Math.Abs) / (levels / 2)
                : (block.Max() - block.Min()) / (levels - 1);
            for (int j = 0; j < 32; j++)
            {
                // symmetric types clamp the far end of the range, costing up to a whole step there
                float bound = (type is GgmlType.Q4_0 or GgmlType.Q5_0 ? 1.0f : 0.5f) * step * 1.01f + 1e-3f * Math.Abs(block[j]);
                Assert.True(Math.Abs(block[j] - y[32 * b + j]) <= bound, $"{type} element {32 * b + j}: {block[j]} -> {y[32 * b + j]}");
            }
        }
    }
}

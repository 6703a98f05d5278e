using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>The bit-manipulation fp16 conversions against System.Half (an independent IEEE implementation).</summary>
public class Fp16Tests
{
    [Fact]
    public void ScalarHalfToSingleIsExactForEveryBitPattern()
    {
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = Fp16.ToSingle((ushort)h);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual));
            else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    [Fact]
    public void BranchlessHalfToSingleIsExactForEveryFiniteBitPattern()
    {
        // the high 16 bits are ignored (kernels pass a 32-bit word whose other half is a neighbouring field)
        for (int h = 0; h < 65536; h++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)h);
            if (!Half.IsFinite(half)) continue;
            float expected = (float)half;
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(Fp16.ToSingleFinite((uint)h | 0xABCD_0000u)));
        }
    }

    [Fact]
    public void ScalarSingleToHalfRoundsLikeSystemHalf()
    {
        var rng = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            // random bit patterns cover every exponent, including the subnormal and overflow ranges
            float value = BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31));
            if (float.IsNaN(value)) continue;
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)value), Fp16.FromSingle(value));
        }
        // every half-way point between neighbouring halves, and its neighbours one ulp away
        for (int h = 0; h < 0x7C00; h++)
        {
            float mid = (float)(((double)(float)BitConverter.UInt16BitsToHalf((ushort)h) + (double)(float)BitConverter.UInt16BitsToHalf((ushort)(h + 1))) / 2);
            foreach (float v in new[] { mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid), -mid })
                Assert.Equal(BitConverter.HalfToUInt16Bits((Half)v), Fp16.FromSingle(v));
        }
        Assert.True(float.IsNaN((float)BitConverter.UInt16BitsToHalf(Fp16.FromSingle(float.NaN))));
    }

    [Fact]
    public unsafe void SpanFloatToHalfMatchesSystemHalfOnEveryRung()
    {
        // lengths that end in each rung's loop and in the scalar tail; values of every exponent, halfway points
        var rng = new Random(11);
        foreach (int count in new[] { 0, 1, 3, 4, 7, 8, 15, 16, 31, 32, 33, 47, 64, 100 })
        {
            var src = new float[count];
            for (int i = 0; i < count; i++)
                src[i] = (i % 3) switch
                {
                    0 => BitConverter.Int32BitsToSingle(rng.Next() ^ (rng.Next(2) << 31)),
                    1 => (float)(rng.NextDouble() * 8 - 4),
                    _ => (float)(((double)(float)BitConverter.UInt16BitsToHalf((ushort)rng.Next(0x7C00)) + (double)(float)BitConverter.UInt16BitsToHalf((ushort)rng.Next(0x7C00))) / 2),
                };
            var dst = new ushort[count + 1];
            dst[count] = 0xBEEF;
            fixed (float* s = src)
            fixed (ushort* d = dst)
                Fp16.FromSingle(s, d, count);
            for (int i = 0; i < count; i++)
            {
                ushort expected = BitConverter.HalfToUInt16Bits((Half)src[i]);
                if (float.IsNaN(src[i])) Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(dst[i])), $"count {count}, element {i}: NaN");
                else Assert.True(expected == dst[i], $"count {count}, element {i}: {src[i]} gave {dst[i]:X4}, System.Half {expected:X4}");
            }
            Assert.Equal(0xBEEF, dst[count]);   // nothing written past the end
        }
    }

    [Fact]
    public void BFloat16NaNStaysNaN() =>
        Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x7F80_0001)))));
}

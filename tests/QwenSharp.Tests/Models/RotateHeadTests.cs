using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>RoPE's vectorised rotation must give its scalar twin's bits (which LlamaCppOpParityTests holds to
/// llama.cpp's): every head size from a scalar-only one to 0.5B's 64 and beyond, so each rung and the tail run.</summary>
public unsafe class RotateHeadTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(60)]
    public void VectorisedRotationIsBitIdenticalToScalar(int half)
    {
        var rng = new Random(half);
        var head = new float[2 * half];
        var cos = new float[half];
        var sin = new float[half];
        for (int i = 0; i < head.Length; i++) head[i] = (float)(rng.NextDouble() * 20 - 10);
        for (int i = 0; i < half; i++)
        {
            double angle = rng.NextDouble() * 1000;
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
        var fast = (float[])head.Clone();
        var reference = (float[])head.Clone();
        fixed (float* f = fast)
        fixed (float* r = reference)
        fixed (float* c = cos)
        fixed (float* s = sin)
        {
            Qwen2Context.RotateHead(f, c, s, half);
            Qwen2Context.RotateHeadScalar(r, c, s, half, half);
        }
        for (int i = 0; i < head.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(reference[i]) == BitConverter.SingleToInt32Bits(fast[i]),
                $"element {i}: {fast[i]} vs scalar {reference[i]}");
        Assert.NotEqual(head, fast);   // it rotated
    }
}

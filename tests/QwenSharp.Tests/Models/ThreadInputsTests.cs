using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>Each pool thread's own normed and quantized input row (ThreadInputs) is the row the calling thread makes
/// (RMSNorm, then the weight type's activation quantization), in a buffer of its own.</summary>
public class ThreadInputsTests
{
    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.F32)]
    public unsafe void EveryThreadGetsTheCallersRowInItsOwnBuffer(GgmlType type)
    {
        const int h = 512, threads = 3;
        var rng = new Random((int)type);
        var x = GC.AllocateArray<float>(h, pinned: true);
        var weight = new float[h];
        for (int i = 0; i < h; i++) { x[i] = (float)(rng.NextDouble() * 4 - 2); weight[i] = (float)(rng.NextDouble() + 0.5); }
        var normed = new float[h];
        Qwen2Context.RmsNormRow(x, weight, 1e-6f, normed);
        var expected = new byte[VecDot.ActivationRowBytes(type, h)];
        VecDot.QuantizeActivation(type, normed, expected);

        var inputs = new ThreadInputs(threads, h);
        fixed (float* px = x)
        {
            inputs.Set(px, weight, 1e-6f, type);
            var rows = new HashSet<nint>();
            for (int t = 0; t < threads; t++)
            {
                byte* act = inputs.Prepare(t);
                Assert.True(rows.Add((nint)act), $"thread {t} shares a buffer");
                Assert.Equal(expected, new ReadOnlySpan<byte>(act, expected.Length).ToArray());
            }
        }
    }
}

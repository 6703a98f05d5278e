using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>Every weight matmul llama.cpp evaluates, recomputed by our kernels from llama.cpp's own F32 input, must
/// give llama.cpp's output. Fed the same input, the two engines must quantize the activations identically (a single
/// int8 level moved is ~1e-4 of the output scale, far over the bar) and compute the same dot products, leaving only
/// the order of fp32 additions (measured: under 6e-7 of the output scale for all 13 types). This covers llama.cpp's
/// prompt kernels (one batch: llamafile's tinyBLAS, repacked gemm) and its generation kernels (one token: vec_dot,
/// repacked gemv). Our scalar twins (ReferenceKernels: activation quantizer, and the dot in double precision) are
/// held to the same bar on a sample of rows, so the check does not rest on our fast kernels alone.</summary>
[Collection(LlamaCppParityCollection.Name)]
public class LlamaCppMatMulParityTests(LlamaCppParityFixture fixture, ITestOutputHelper output)
{
    private const int PromptTokens = 12, GeneratedTokens = 3;
    private const int MatMulsPerToken = 2 * 7 + 1; // two layers of q, k, v, o, gate, up, down; then the (tied) output
    private const double Bar = 2e-6;               // of the largest |output| of the node
    private const int ExactRowStride = 61;

    [Theory]
    [InlineData(GgmlType.F32, true)]
    [InlineData(GgmlType.F16, true)]
    [InlineData(GgmlType.BF16, true)]
    [InlineData(GgmlType.Q8_0, true)]
    [InlineData(GgmlType.Q4_0, true)]
    [InlineData(GgmlType.Q4_1, true)]
    [InlineData(GgmlType.Q5_0, true)]
    [InlineData(GgmlType.Q5_1, true)]
    [InlineData(GgmlType.Q2_K, true)]
    [InlineData(GgmlType.Q3_K, true)]
    [InlineData(GgmlType.Q4_K, true)]
    [InlineData(GgmlType.Q5_K, true)]
    [InlineData(GgmlType.Q6_K, true)]
    [InlineData(GgmlType.Q4_K, false)] // Q4_K_M: Q6_K output and some Q6_K value/down weights
    public void OurKernelsReproduceEveryWeightMatMulFromLlamaCppsInputs(GgmlType type, bool pure)
    {
        string path = type == GgmlType.F32 ? fixture.F32Path : fixture.Quantized(type, pure);
        var prompt = LlamaCppOracle.GraphNodes(path, fixture.Tokens[..PromptTokens], LlamaCppEvaluation.OneBatch, n => n.IsWeightMatMul);
        var generation = LlamaCppOracle.GraphNodes(path, fixture.Tokens[..GeneratedTokens], LlamaCppEvaluation.TokenByToken, n => n.IsWeightMatMul);
        Assert.Equal(MatMulsPerToken, prompt.Count);
        Assert.Equal(MatMulsPerToken * GeneratedTokens, generation.Count);

        using var file = GgufFile.Open(path);
        var batch = Worst(file, prompt);
        var single = Worst(file, generation);
        output.WriteLine($"{Path.GetFileName(path)}: worst |ours - llama.cpp| / max|out|: one batch {batch.Fast:E2} ({batch.Node}), " +
                         $"token by token {single.Fast:E2} ({single.Node}); exact twin {Math.Max(batch.Exact, single.Exact):E2}");
        Assert.True(batch.Fast <= Bar, $"one batch, {batch.Node}: {batch.Fast:E2}");
        Assert.True(single.Fast <= Bar, $"token by token, {single.Node}: {single.Fast:E2}");
        Assert.True(batch.Exact <= Bar && single.Exact <= Bar, $"exact twin: {batch.Exact:E2} / {single.Exact:E2}");
    }

    private static (double Fast, double Exact, string Node) Worst(GgufFile file, List<LlamaCppNode> nodes)
    {
        (double Fast, double Exact, string Node) worst = (0, 0, "");
        foreach (var node in nodes)
        {
            var (fast, exact) = Check(file, node);
            if (fast > worst.Fast) worst = (fast, worst.Exact, node.Sources[0]);
            worst.Exact = Math.Max(worst.Exact, exact);
        }
        return worst;
    }

    /// <summary>Largest |ours - llama.cpp| over the node's outputs (fast kernels: all; exact twin: a sample of rows),
    /// relative to the largest |llama.cpp output|.</summary>
    private static unsafe (double Fast, double Exact) Check(GgufFile file, LlamaCppNode node)
    {
        var weight = file.GetTensor(node.Sources[0]);
        float[] input = node.SourceValues[1] ?? throw new InvalidOperationException($"{node.Name}: input not captured");
        float[] expected = node.Values ?? throw new InvalidOperationException($"{node.Name}: output not captured");
        int rows = (int)node.Shape[0], tokens = (int)node.Shape[1], k = input.Length / tokens;
        Assert.Equal(new long[] { k, rows }, weight.Dims);
        Assert.Equal((long)rows * tokens, expected.Length);

        var type = weight.Type;
        int actBytes = (int)VecDot.ActivationRowBytes(type, k), rowBytes = (int)GgmlTypeInfo.RowBytes(type, k);
        var act = new byte[actBytes * tokens];
        var referenceAct = new byte[actBytes * tokens];
        for (int b = 0; b < tokens; b++)
        {
            VecDot.QuantizeActivation(type, input.AsSpan(b * k, k), act.AsSpan(b * actBytes, actBytes));
            ReferenceKernels.QuantizeActivation(type, input.AsSpan(b * k, k), referenceAct.AsSpan(b * actBytes, actBytes));
        }
        var ours = new float[expected.Length];
        byte* w = file.GetTensorData(weight);
        fixed (byte* a = act)
        fixed (float* o = ours)
            VecDot.MatMulRows(type, w, k, 0, rows, a, tokens, o, rows);

        double scale = expected.Max(v => Math.Abs(v)), fast = 0, exact = 0;
        for (int b = 0; b < tokens; b++)
            for (int r = 0; r < rows; r++)
            {
                float y = expected[b * rows + r];
                fast = Math.Max(fast, Math.Abs(ours[b * rows + r] - y));
                if (r % ExactRowStride != 0) continue;
                float e = ReferenceKernels.Dot(type, new ReadOnlySpan<byte>(w + (long)r * rowBytes, rowBytes), referenceAct.AsSpan(b * actBytes, actBytes), k);
                exact = Math.Max(exact, Math.Abs(e - y));
            }
        return (fast / scale, exact / scale);
    }
}

using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>The element-wise steps that feed the activation quantizers must round exactly as llama.cpp's do: a
/// last-bit difference there can push a value across a quantization boundary, and one moved int8 level changes the
/// logits by up to ~0.3 (see <see cref="LlamaCppParityTests"/>). Fed llama.cpp's own inputs (captured from its graph),
/// our RMS norm and RoPE must give its outputs bit for bit. (SiLU and softmax are not held to this: ggml computes exp
/// with its own vectorised approximation.)</summary>
[Collection(LlamaCppParityCollection.Name)]
public class LlamaCppOpParityTests(LlamaCppParityFixture fixture, ITestOutputHelper output)
{
    private const int GgmlI32 = 26;

    private List<LlamaCppNode> Capture(Func<LlamaCppNode, bool> wanted) =>
        LlamaCppOracle.GraphNodes(fixture.F32Path, fixture.Tokens, LlamaCppEvaluation.OneBatch, wanted);

    [Fact]
    public void RmsNormIsBitIdenticalToLlamaCpp()
    {
        // ggml splits it in two nodes: "norm-<layer>" (x·scale) and then "attn_norm-<layer>" / "ffn_norm-<layer>" /
        // "result_norm" (·weight). x is the residual stream ("embd", "ffn_inp-<layer>", "l_out-<layer>"), captured as
        // its own node: the last norm may overwrite its input in place, so its input is not read at the norm.
        var nodes = Capture(n => IsNorm(n) || n.Name.EndsWith("_norm", StringComparison.Ordinal) || n.Name.Contains("_norm-", StringComparison.Ordinal)
                                 || n.Name == "embd" || n.Name.StartsWith("ffn_inp-", StringComparison.Ordinal) || n.Name.StartsWith("l_out-", StringComparison.Ordinal));
        using var file = GgufFile.Open(fixture.F32Path);
        float eps = file.GetFloat("qwen2.attention.layer_norm_rms_epsilon");
        var residual = new Dictionary<string, float[]>();
        int checkedNorms = 0;
        LlamaCppNode? pendingNorm = null;
        foreach (var node in nodes)
        {
            if (IsNorm(node)) { pendingNorm = node; continue; }
            if (!node.Name.Contains("norm", StringComparison.Ordinal)) { residual[node.Name] = node.Values!; continue; }
            Assert.NotNull(pendingNorm);
            Assert.Equal(pendingNorm.Name, node.Sources[0]);
            float[] x = residual[pendingNorm.Sources[0]], weight = node.SourceValues[1]!, expected = node.Values!;
            int h = weight.Length;
            var ours = new float[expected.Length];
            for (int b = 0; b < expected.Length / h; b++)
                Qwen2Context.RmsNormRow(x.AsSpan(b * h, h), weight, eps, ours.AsSpan(b * h, h));
            int differ = CountDifferent(ours, expected);
            output.WriteLine($"{node.Name}: {differ} of {expected.Length} values differ");
            Assert.True(differ == 0, $"{node.Name}: {differ} of {expected.Length} values differ from llama.cpp's");
            checkedNorms++;
        }
        Assert.Equal(2 * 2 + 1, checkedNorms); // attention and feed-forward norm per layer, then the output norm
    }

    [Fact]
    public unsafe void RopeIsBitIdenticalToLlamaCpp()
    {
        // The rotation nodes are the Qcur/Kcur nodes whose second input is the I32 position vector.
        var nodes = Capture(n => (n.Name.StartsWith("Qcur-", StringComparison.Ordinal) || n.Name.StartsWith("Kcur-", StringComparison.Ordinal))
                                 && n.Sources.Length >= 2 && n.SourceTypes[1] == GgmlI32);
        using var file = GgufFile.Open(fixture.F32Path);
        float freqBase = file.GetFloat("qwen2.rope.freq_base");
        foreach (var node in nodes)
        {
            int d = (int)node.Shape[0], heads = (int)node.Shape[1], tokens = (int)node.Shape[2], half = d / 2;
            Assert.Equal(fixture.Tokens.Length, tokens);
            float thetaScale = MathF.Pow(freqBase, -2f / d);
            float[] ours = (float[])node.SourceValues[0]!.Clone(), expected = node.Values!;
            var cos = new float[half];
            var sin = new float[half];
            fixed (float* v = ours)
            fixed (float* c = cos)
            fixed (float* s = sin)
                for (int b = 0; b < tokens; b++)
                {
                    Qwen2Context.RopeAngles(b, thetaScale, cos, sin);
                    for (int head = 0; head < heads; head++) Qwen2Context.RotateHead(v + (b * heads + head) * d, c, s, half);
                }
            int differ = CountDifferent(ours, expected);
            output.WriteLine($"{node.Name}: {differ} of {expected.Length} values differ");
            Assert.True(differ == 0, $"{node.Name}: {differ} of {expected.Length} values differ from llama.cpp's");
        }
        Assert.Equal(2 * 2, nodes.Count); // q and k in each layer
    }

    private static bool IsNorm(LlamaCppNode n) => n.Name == "norm" || n.Name.StartsWith("norm-", StringComparison.Ordinal);

    private static int CountDifferent(float[] ours, float[] expected)
    {
        Assert.Equal(expected.Length, ours.Length);
        int differ = 0;
        for (int i = 0; i < ours.Length; i++)
            if (BitConverter.SingleToInt32Bits(ours[i]) != BitConverter.SingleToInt32Bits(expected[i])) differ++;
        return differ;
    }
}

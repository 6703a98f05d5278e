using System.Numerics.Tensors;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>A synthetic Qwen2 model with the real vocabulary (151936 embedding rows, tied like Qwen1.5-0.5B) and
/// small layers (hidden 256 so K-quant blocks fit, GQA 4:2), written by our writer, quantized by llama.cpp's own
/// quantizer, then run by QwenSharp and by llama.cpp on the same file and the same tokens.</summary>
public sealed class LlamaCppParityFixture
{
    public string Dir { get; } = TestPaths.NewTempDir("parity");
    public string F32Path { get; }
    public int[] Tokens { get; }
    private readonly Dictionary<string, string> _quantized = [];

    public LlamaCppParityFixture()
    {
        F32Path = Path.Combine(Dir, "parity-f32.gguf");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 256, FeedForwardSize = 512, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            VocabRows = 151936, ContextLength = 32768, InitStd = 0.15f, Seed = 1234, TiedEmbeddings = true,
        };
        SyntheticQwen2.Write(F32Path, spec, RealVocabulary.Get());
        using var model = Qwen2Model.Load(F32Path);
        Tokens = model.Tokenizer.Encode(
            "<|im_start|>user\nQwenSharp runs Qwen1.5 in C#. 你好，世界！Bonjour à tous 😀 12345<|im_end|>\n<|im_start|>assistant\n"
            + "Sure. Here is a short poem, a sum and some code:\nThe river runs, the mountains stay; 山は動かず、川は流れる。\n"
            + "2 + 3 = 5, and 17 * 23 = 391.\nfor (int i = 0; i < n; i++) { total += values[i]; }\n"
            + "¿Dónde está la biblioteca? Привет, как дела? 안녕하세요! Xin chào thế giới.<|im_end|>");
        // Over a hundred positions, so that the argmax bar (95%) is a statistic, not one or two coin flips: on random
        // weights a 1-ulp difference occasionally lands on a quantizer rounding boundary and moves a logit by ~0.2
        // (measured: llama.cpp's own batch and token-by-token paths differ from each other the same way).
    }

    public string Quantized(GgmlType type, bool pure)
    {
        lock (_quantized)
        {
            string key = type + (pure ? "-pure" : "-mix");
            if (!_quantized.TryGetValue(key, out string? path))
            {
                path = Path.Combine(Dir, $"parity-{key}.gguf");
                LlamaCppOracle.Quantize(F32Path, path, type, pure);
                _quantized[key] = path;
            }
            return path;
        }
    }
}

/// <summary>The test classes that share one <see cref="LlamaCppParityFixture"/> (its quantized files take a while to make).</summary>
[CollectionDefinition(Name)]
public sealed class LlamaCppParityCollection : ICollectionFixture<LlamaCppParityFixture>
{
    public const string Name = "llama.cpp parity";
}

/// <summary>End-to-end logits against llama.cpp. F32 agrees to ~3e-5. Where activations are rounded before a matmul
/// (every quantized type, and F16/BF16), the two engines can differ by up to ~0.3 at some positions even though every
/// matmul agrees to ~5e-7 (<see cref="LlamaCppMatMulParityTests"/>): the non-matmul ops (softmax and SiLU use ggml's
/// own vectorised exp) differ in the last bit, and now and then such a difference lands on a rounding boundary of the
/// activation quantizer, moving one value by a whole quantization step; that step then spreads through the later
/// layers. llama.cpp does the same to itself (its one-batch and token-by-token runs differ by as much), and which
/// types happen to agree exactly changes with the prompt. So these bars are statistical (cosine, argmax).</summary>
[Collection(LlamaCppParityCollection.Name)]
public class LlamaCppParityTests(LlamaCppParityFixture fixture, ITestOutputHelper output)
{
    private static float[][] Ours(string path, int[] tokens)
    {
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.F32 });
        int n = ctx.Decode(tokens.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray());
        return Enumerable.Range(0, n).Select(o => ctx.Logits(o).ToArray()).ToArray();
    }

    private (double MaxAbs, double MinCosine, double ArgmaxAgreement, double Range) Compare(string path) => Compare(path, out _);

    private (double MaxAbs, double MinCosine, double ArgmaxAgreement, double Range) Compare(string path, out double[] cosines)
    {
        var ours = Ours(path, fixture.Tokens);
        var theirs = LlamaCppOracle.Logits(path, fixture.Tokens);
        Assert.Equal(theirs.Length, ours.Length);
        double maxAbs = 0, minCos = 1, range = 0;
        int sameArgmax = 0;
        cosines = new double[ours.Length];
        for (int i = 0; i < ours.Length; i++)
        {
            Assert.Equal(theirs[i].Length, ours[i].Length);
            // MaxMagnitude returns the element of largest magnitude with its sign, hence the Abs
            maxAbs = Math.Max(maxAbs, Math.Abs(TensorPrimitives.MaxMagnitude(Diff(ours[i], theirs[i]))));
            cosines[i] = TensorPrimitives.CosineSimilarity(ours[i], theirs[i]);
            minCos = Math.Min(minCos, cosines[i]);
            range = Math.Max(range, TensorPrimitives.Max(theirs[i]) - TensorPrimitives.Min(theirs[i]));
            if (TensorPrimitives.IndexOfMax(ours[i]) == TensorPrimitives.IndexOfMax(theirs[i])) sameArgmax++;
        }
        var result = (maxAbs, minCos, (double)sameArgmax / ours.Length, range);
        output.WriteLine($"{Path.GetFileName(path)}: positions {ours.Length}, max |diff| {maxAbs:G4}, min cosine {minCos:F7}, argmax agreement {result.Item3:P1}, logit range {range:F2}");
        Assert.True(range > 5, "llama.cpp's logits are nearly flat; the comparison would mean little");
        return result;
    }

    private static float[] Diff(float[] a, float[] b)
    {
        var d = new float[a.Length];
        TensorPrimitives.Subtract(a, b, d);
        return d;
    }

    [Fact]
    public void F32EveryPositionWithin1e4()
    {
        var r = Compare(fixture.F32Path);
        Assert.True(r.MaxAbs <= 1e-4, $"max |diff| {r.MaxAbs}");
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void HalfPrecisionCosineAtLeast0_99999(GgmlType type)
    {
        // The bar holds wherever llama.cpp itself is determined to that precision: its one-batch and token-by-token
        // runs agree to cosine 0.99999. (BF16 rounds every activation to 8 bits, and on this 138-token prompt
        // llama.cpp's two paths drift below 0.99999 from position 35 on: measured 0.9999874 at worst.) Beyond that
        // point the bar is the one llama.cpp meets against itself, with a small margin.
        string path = fixture.Quantized(type, pure: true);
        Compare(path, out double[] cosines);
        var batch = LlamaCppOracle.Logits(path, fixture.Tokens, LlamaCppEvaluation.OneBatch);
        var tokenByToken = LlamaCppOracle.Logits(path, fixture.Tokens, LlamaCppEvaluation.TokenByToken);
        var self = batch.Zip(tokenByToken, (a, b) => (double)TensorPrimitives.CosineSimilarity(a, b)).ToArray();
        int determined = Array.FindIndex(self, c => c < 0.99999);
        if (determined < 0) determined = self.Length;
        double selfMin = self.Min();
        output.WriteLine($"{type}: llama.cpp batch vs token-by-token min cosine {selfMin:F7}; determined to 0.99999 for the first {determined} positions");
        Assert.True(determined >= 30, $"llama.cpp agrees with itself for only {determined} positions: too few for the bar to mean much");
        for (int i = 0; i < determined; i++)
            Assert.True(cosines[i] >= 0.99999, $"position {i}: cosine {cosines[i]:F7}");
        double floor = 1 - 4 * (1 - selfMin);
        for (int i = determined; i < cosines.Length; i++)
            Assert.True(cosines[i] >= floor, $"position {i}: cosine {cosines[i]:F7}, below {floor:F7} (4x llama.cpp's own drift)");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void QuantizedCosineAtLeast0_999AndArgmaxAgrees(GgmlType type)
    {
        string path = fixture.Quantized(type, pure: true);
        using (var model = Qwen2Model.Load(path))
            Assert.Equal(type, model.Weights.Layers[0].WGate.Type); // the type under test is really the one computed
        var r = Compare(path);
        Assert.True(r.MinCosine >= 0.999, $"min cosine {r.MinCosine}");
        Assert.True(r.ArgmaxAgreement >= 0.95, $"argmax agreement {r.ArgmaxAgreement:P1}");
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)] // llama.cpp's Q4_K_M mix: Q6_K embedding/output and some Q6_K value/down weights
    [InlineData(GgmlType.Q3_K)]
    public void LlamaCppMixedQuantizationsAgree(GgmlType type)
    {
        var r = Compare(fixture.Quantized(type, pure: false));
        Assert.True(r.MinCosine >= 0.999, $"min cosine {r.MinCosine}");
        Assert.True(r.ArgmaxAgreement >= 0.95, $"argmax agreement {r.ArgmaxAgreement:P1}");
    }

    [Fact]
    public void GreedyContinuationMatchesLlamaCpp()
    {
        string path = fixture.Quantized(GgmlType.Q8_0, pure: false);
        int[] prompt = fixture.Tokens[..12];
        int[] theirs = LlamaCppOracle.Greedy(path, prompt, 24);
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, KvCacheType = KvCacheType.F32 });
        var ours = new QwenSharp.Generation.Generator(ctx).Generate(prompt,
            new QwenSharp.Generation.GenerationOptions { Sampling = QwenSharp.Generation.SamplingOptions.Greedy, MaxTokens = 24, StopOnEndTokens = false });
        int same = theirs.Zip(ours.Tokens).TakeWhile(p => p.First == p.Second).Count();
        output.WriteLine($"greedy: {same} of 24 tokens identical before the first difference");
        Assert.True(same >= 20, $"only {same} leading tokens agree: ours {string.Join(",", ours.Tokens)} theirs {string.Join(",", theirs)}");
    }
}

using System.Numerics.Tensors;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>A tiny qwen2moe model (8 experts, top-4, expert width 256, shared width 512, hidden 256, GQA 4:2) with
/// the real 151936-token vocabulary, written by our writer, quantized by llama.cpp's own quantizer, then run by
/// QwenSharp and by llama.cpp on the same file and tokens.</summary>
public sealed class MoeParityFixture
{
    public string Dir { get; } = TestPaths.NewTempDir("moe-parity");
    public string F32Path { get; }
    public int[] Tokens { get; }
    private readonly Dictionary<GgmlType, string> _quantized = [];

    public MoeParityFixture()
    {
        F32Path = Path.Combine(Dir, "moe-f32.gguf");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 256, FeedForwardSize = 512, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            VocabRows = 151936, ContextLength = 8192, InitStd = 0.15f, Seed = 4321, TiedEmbeddings = false,
            Moe = new SyntheticMoeSpec { ExpertCount = 8, ExpertUsedCount = 4, ExpertFeedForwardSize = 256, SharedFeedForwardSize = 512 },
            Name = "synthetic-qwen2moe",
        };
        SyntheticQwen2.Write(F32Path, spec, RealVocabulary.Get());
        using var model = Qwen2Model.Load(F32Path);
        Tokens = model.Tokenizer.Encode(
            "<|im_start|>user\nRoute these tokens through the experts. 你好，世界！Bonjour à tous 😀 12345<|im_end|>\n<|im_start|>assistant\n"
            + "The river runs, the mountains stay; 山は動かず、川は流れる。 2 + 3 = 5, and 17 * 23 = 391.\n"
            + "for (int i = 0; i < n; i++) { total += values[i]; } ¿Dónde está la biblioteca? Привет!<|im_end|>");
    }

    public string Quantized(GgmlType type)
    {
        lock (_quantized)
        {
            if (!_quantized.TryGetValue(type, out string? path))
            {
                path = Path.Combine(Dir, $"moe-{type}.gguf");
                LlamaCppOracle.Quantize(F32Path, path, type, pure: true);
                _quantized[type] = path;
            }
            return path;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MoeParityCollection : ICollectionFixture<MoeParityFixture>
{
    public const string Name = "llama.cpp MoE parity";
}

/// <summary>qwen2moe logits against llama.cpp: the F32 model to 1e-4 (batched prompt and token-by-token decode, which
/// group tokens by expert differently), quantized ones to cosine 0.999.</summary>
[Collection(MoeParityCollection.Name)]
public class MoeParityTests(MoeParityFixture fixture, ITestOutputHelper output)
{
    internal static float[][] Ours(string path, int[] tokens, bool tokenByToken)
    {
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 512, Threads = 2, KvCacheType = KvCacheType.F32 });
        if (!tokenByToken)
        {
            int n = ctx.Decode(tokens.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray());
            return Enumerable.Range(0, n).Select(o => ctx.Logits(o).ToArray()).ToArray();
        }
        var result = new float[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++)
        {
            ctx.Decode([new BatchEntry(tokens[i], i, 0, true)]);
            result[i] = ctx.Logits(0).ToArray();
        }
        return result;
    }

    internal static (double MaxAbs, double MinCosine, double ArgmaxAgreement) Compare(float[][] ours, float[][] theirs)
    {
        Assert.Equal(theirs.Length, ours.Length);
        double maxAbs = 0, minCos = 1, range = 0;
        int sameArgmax = 0;
        var diff = new float[ours[0].Length];
        for (int i = 0; i < ours.Length; i++)
        {
            Assert.Equal(theirs[i].Length, ours[i].Length);
            TensorPrimitives.Subtract(ours[i], theirs[i], diff);
            maxAbs = Math.Max(maxAbs, Math.Abs(TensorPrimitives.MaxMagnitude(diff)));
            minCos = Math.Min(minCos, TensorPrimitives.CosineSimilarity(ours[i], theirs[i]));
            range = Math.Max(range, TensorPrimitives.Max(theirs[i]) - TensorPrimitives.Min(theirs[i]));
            if (TensorPrimitives.IndexOfMax(ours[i]) == TensorPrimitives.IndexOfMax(theirs[i])) sameArgmax++;
        }
        Assert.True(range > 5, "llama.cpp's logits are nearly flat; the comparison would mean little");
        return (maxAbs, minCos, (double)sameArgmax / ours.Length);
    }

    [Fact]
    public void ConfigAndExpertsAreReadFromTheFile()
    {
        using var model = Qwen2Model.Load(fixture.F32Path);
        var moe = model.Config.Moe!;
        Assert.Equal((8, 4, 256, 512, false), (moe.ExpertCount, moe.ExpertUsedCount, moe.ExpertFeedForwardSize, moe.SharedFeedForwardSize, moe.NormTopKProb));
        var layer = model.Weights.Layers[1].Moe!;
        Assert.Equal(8, layer.ExpertGate.Length);
        unsafe
        {
            // expert e is rows [e·Fe, (e+1)·Fe) of the stacked tensor
            long sliceBytes = layer.ExpertDown[0].RowBytes * layer.ExpertDown[0].Rows;
            Assert.Equal(sliceBytes * 7, layer.ExpertDown[7].Data - layer.ExpertDown[0].Data);
        }
    }

    [Fact]
    public void F32BatchedPromptWithin1e4()
    {
        var r = Compare(Ours(fixture.F32Path, fixture.Tokens, tokenByToken: false), LlamaCppOracle.Logits(fixture.F32Path, fixture.Tokens));
        output.WriteLine($"F32 batch: {fixture.Tokens.Length} positions, max |diff| {r.MaxAbs:G4}, min cosine {r.MinCosine:F7}");
        Assert.True(r.MaxAbs <= 1e-4, $"max |diff| {r.MaxAbs}");
    }

    [Fact]
    public void F32TokenByTokenDecodeWithin1e4()
    {
        var r = Compare(Ours(fixture.F32Path, fixture.Tokens, tokenByToken: true), LlamaCppOracle.Logits(fixture.F32Path, fixture.Tokens));
        output.WriteLine($"F32 token by token: max |diff| {r.MaxAbs:G4}, min cosine {r.MinCosine:F7}");
        Assert.True(r.MaxAbs <= 1e-4, $"max |diff| {r.MaxAbs}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void QuantizedCosineAtLeast0_999(GgmlType type)
    {
        string path = fixture.Quantized(type);
        using (var model = Qwen2Model.Load(path))
        {
            var moe = model.Weights.Layers[0].Moe!;
            Assert.Equal(type, moe.ExpertGate[0].Type);   // the type under test is really the one computed
            Assert.Equal(GgmlType.F32, moe.Router.Type);  // llama.cpp leaves the router unquantized
        }
        var r = Compare(Ours(path, fixture.Tokens, tokenByToken: false), LlamaCppOracle.Logits(path, fixture.Tokens));
        output.WriteLine($"{type}: max |diff| {r.MaxAbs:G4}, min cosine {r.MinCosine:F7}, argmax agreement {r.ArgmaxAgreement:P1}");
        Assert.True(r.MinCosine >= 0.999, $"min cosine {r.MinCosine}");
        Assert.True(r.ArgmaxAgreement >= 0.95, $"argmax agreement {r.ArgmaxAgreement:P1}");
    }
}

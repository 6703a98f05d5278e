using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Models;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Qwen1.5-MoE folders run directly, each expert bound where its safetensors tensor lies: the folder must give
/// the logits of its converted qwen2moe GGUF (in QwenSharp and in llama.cpp) and of a naive double-precision MoE
/// reference, honour norm_topk_prob, quantize at load like the GGUF, and name a missing expert.</summary>
public class HfMoeFolderLoadTests(ITestOutputHelper output)
{
    private static readonly int[] Tokens = [1, 200, 37, 256, 300, 5, 99, 260, 261, 17, 42, 3, 120, 121];

    // 8 experts, 4 per token, the real 151,646-token vocabulary: written and converted once for the class.
    private static readonly HfMoeSpec RealSpec = new(Experts: 8, TopK: 4, Seed: 11);
    private static readonly Lazy<(string Folder, string Gguf, Dictionary<string, float[]> Weights)> Real = new(() =>
    {
        string dir = TestPaths.NewTempDir("hf-moe-run");
        string folder = Path.Combine(dir, "Qwen1.5-MoE-Synthetic"), gguf = Path.Combine(dir, "twin-f32.gguf");
        var weights = HfMoeTestModel.Write(folder, RealSpec, RealVocabulary.Get());
        HfToGguf.Convert(folder, gguf, GgufOutputType.F32);
        return (folder, gguf, weights);
    });

    [Fact]
    public void FolderGivesTheLogitsOfItsConvertedGgufInQwenSharpAndLlamaCpp()
    {
        var (folder, gguf, weights) = Real.Value;
        using var model = Qwen2Model.Load(folder);
        Assert.Null(model.File);
        var moe = model.Config.Moe!;
        Assert.Equal((8, 4, 32, 96, false), (moe.ExpertCount, moe.ExpertUsedCount, moe.ExpertFeedForwardSize, moe.SharedFeedForwardSize, moe.NormTopKProb));
        var layer = model.Weights.Layers[1].Moe!;
        Assert.Equal("blk.1.ffn_up_exps.5.weight", layer.ExpertUp[5].Name);   // bound per expert, not stacked

        var ours = HfLogits.Of(model, Tokens);
        var twin = HfLogits.Of(gguf, Tokens);
        var llama = LlamaCppOracle.Logits(gguf, Tokens);
        var naive = new NaiveHfQwen2(weights, RealSpec.Hidden, RealSpec.Layers, RealSpec.Heads, RealSpec.KvHeads, RealSpec.Experts, RealSpec.TopK).Logits(Tokens);
        double vsTwin = HfLogits.MaxAbsDiff(ours, twin), vsLlama = HfLogits.MaxAbsDiff(ours, llama), vsNaive = MaxAbsDiff(ours, naive);
        output.WriteLine($"folder vs converted GGUF {vsTwin:G3}, vs llama.cpp {vsLlama:G3}, vs naive {vsNaive:G3}; logit range {HfLogits.Range(ours):F2}");
        Assert.True(HfLogits.Range(ours) > 3, "flat logits would make the comparison meaningless");
        Assert.True(vsTwin <= 1e-5, $"folder vs GGUF twin {vsTwin}");
        Assert.True(vsLlama < 1e-4, $"folder vs llama.cpp {vsLlama}");
        Assert.True(vsNaive < 2e-4, $"folder vs naive reference {vsNaive}");

        // The memory plan counts the same weights whether the experts come stacked or one by one.
        using var twinModel = Qwen2Model.Load(gguf);
        var a = MemoryPlan.ForFile(model.Source, model.Config, 256, KvCacheType.F16);
        var b = MemoryPlan.ForFile(twinModel.Source, twinModel.Config, 256, KvCacheType.F16);
        Assert.Equal((b.ParameterCount, b.ActiveParameterCount, b.WeightBytes), (a.ParameterCount, a.ActiveParameterCount, a.WeightBytes));
    }

    [Fact]
    public void QuantizingTheFolderAtLoadEqualsQuantizingItsGgufTwin()
    {
        var (folder, gguf, _) = Real.Value;
        var options = new ModelLoadOptions { Quantize = GgmlType.Q8_0 };
        using var model = Qwen2Model.Load(folder, options);
        var layer = model.Weights.Layers[0].Moe!;
        Assert.All(layer.ExpertGate.Concat(layer.ExpertUp).Concat(layer.ExpertDown).Append(layer.SharedDown), m => Assert.Equal(GgmlType.Q8_0, m.Type));
        Assert.Equal(GgmlType.F32, layer.Router.Type);   // llama-quantize keeps the router
        using var twinModel = Qwen2Model.Load(gguf, options);
        Assert.Equal(GgmlType.Q8_0, twinModel.Weights.Layers[0].Moe!.ExpertDown[7].Type);

        var ours = HfLogits.Of(model, Tokens);
        var twin = HfLogits.Of(twinModel, Tokens);
        var plain = HfLogits.Of(folder, Tokens);
        double same = HfLogits.MaxAbsDiff(ours, twin), cos = HfLogits.MinCosine(ours, plain);
        output.WriteLine($"q8_0 folder vs q8_0 GGUF twin {same:G3}; min cosine to the F32 folder {cos:F6}");
        Assert.Equal(0, same);
        Assert.True(HfLogits.MaxAbsDiff(ours, plain) > 0, "nothing was quantized");
        Assert.True(cos > 0.99, $"min cosine {cos}");
    }

    [Fact]
    public void NormTopKProbFromConfigJsonRenormalisesTheChosenExperts()
    {
        var spec = new HfMoeSpec(Experts: 8, TopK: 4, Seed: 5);
        string folder = Path.Combine(TestPaths.NewTempDir("hf-moe-norm"), "moe");
        var weights = HfMoeTestModel.Write(folder, spec, SyntheticVocabulary.ByteLevel());
        var plain = HfLogits.Of(folder, Tokens);
        HfFolderLoadTests.EditConfig(folder, c => c["norm_topk_prob"] = true);
        using var model = Qwen2Model.Load(folder);
        Assert.True(model.Config.Moe!.NormTopKProb);
        var normalised = HfLogits.Of(model, Tokens);

        double[][] Naive(bool norm) =>
            new NaiveHfQwen2(weights, spec.Hidden, spec.Layers, spec.Heads, spec.KvHeads, spec.Experts, spec.TopK, normTopK: norm).Logits(Tokens);
        double plainErr = MaxAbsDiff(plain, Naive(false)), normErr = MaxAbsDiff(normalised, Naive(true));
        double effect = HfLogits.MaxAbsDiff(plain, normalised);
        output.WriteLine($"norm_topk_prob false vs naive {plainErr:G3}, true vs naive {normErr:G3}; the flag moves logits by up to {effect:F3}");
        // The flag's effect must stand far above the engine's error against the reference, or the test could not tell.
        Assert.True(effect > 0.01 && effect > 100 * Math.Max(plainErr, normErr), $"norm_topk_prob barely changed the logits ({effect})");
        Assert.True(plainErr < 2e-4, $"false vs naive {plainErr}");
        Assert.True(normErr < 2e-4, $"true vs naive {normErr}");
    }

    [Fact]
    public void FolderWeightsThatDoNotFitAreRefusedBeforeLoading()
    {
        string folder = SmallFolder("hf-moe-memory");
        var e = Assert.Throws<NotEnoughMemoryException>(() => Qwen2Model.Load(folder, new ModelLoadOptions { AvailableMemoryBytes = 4096 }));
        Assert.Contains("weights of moe", e.Message);
        using (var model = Qwen2Model.Load(folder))
            Assert.Equal(MemoryPlan.ForFile(model.Source, model.Config, 1, KvCacheType.F16).WeightBytes, e.NeededBytes);

        // Quantized at load, the check is on the quantized bytes: what the loaded source then holds.
        var q8 = new ModelLoadOptions { Quantize = GgmlType.Q8_0, AvailableMemoryBytes = 4096 };
        var eq = Assert.Throws<NotEnoughMemoryException>(() => Qwen2Model.Load(folder, q8));
        using (var model = Qwen2Model.Load(folder, q8 with { AvailableMemoryBytes = 1L << 40 }))
            Assert.Equal(MemoryPlan.ForFile(model.Source, model.Config, 1, KvCacheType.F16).WeightBytes, eq.NeededBytes);
        Assert.True(eq.NeededBytes < e.NeededBytes / 3, $"q8_0 {eq.NeededBytes} vs f32 {e.NeededBytes}");
    }

    private static string SmallFolder(string name)
    {
        string folder = Path.Combine(TestPaths.NewTempDir(name), "moe");
        HfMoeTestModel.Write(folder, new HfMoeSpec(Experts: 8, TopK: 4), SyntheticVocabulary.ByteLevel());
        return folder;
    }

    [Fact]
    public void MissingExpertTensorIsNamed()
    {
        string folder = SmallFolder("hf-moe-missing");
        HfFolderLoadTests.RewriteSafetensors(folder, n => n != "model.layers.1.mlp.experts.5.up_proj.weight");
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains("missing tensor model.layers.1.mlp.experts.5.up_proj.weight", e.Message);
    }

    [Fact]
    public void ExpertBeyondTheConfigIsAnExtraTensor()
    {
        string folder = SmallFolder("hf-moe-extra");
        HfFolderLoadTests.RewriteSafetensors(folder, _ => true, w => w.Add("model.layers.0.mlp.experts.8.down_proj.weight", "F32", [64, 32], new byte[64 * 32 * 4]));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains("model.layers.0.mlp.experts.8.down_proj.weight does not belong to a 2-layer, 8-expert Qwen2-MoE model (extra tensor)", e.Message);
    }

    [Fact]
    public void ExpertsOfMixedDtypesAreRefused()
    {
        string folder = SmallFolder("hf-moe-mixed");
        const string name = "model.layers.0.mlp.experts.2.gate_proj.weight";
        HfFolderLoadTests.RewriteSafetensors(folder, n => n != name, w => w.Add(name, "BF16", [32, 64], new byte[32 * 64 * 2]));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains($"expert 2 of layer 0 ({name}) is bf16 but expert 0 is f32", e.Message);
    }

    private static double MaxAbsDiff(float[][] a, double[][] b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            for (int j = 0; j < a[i].Length; j++) max = Math.Max(max, Math.Abs(a[i][j] - b[i][j]));
        return max;
    }
}

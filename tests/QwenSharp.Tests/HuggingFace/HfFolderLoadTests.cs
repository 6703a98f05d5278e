using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using Xunit.Abstractions;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Loading HuggingFace folders: the folder and a GGUF written directly from the same values must give the
/// same logits; every broken folder ends in a ModelFileException that names the cause.</summary>
public class HfFolderLoadTests(ITestOutputHelper output)
{
    private static readonly SyntheticVocabulary Vocab = SyntheticVocabulary.ByteLevel();
    private static readonly int[] Tokens = [1, 200, 37, 256, 300, 5, 99, 260, 261, 17, 42, 3];

    private static (string Folder, string Gguf) Pair(HfTestSpec spec, string name)
    {
        string dir = TestPaths.NewTempDir(name);
        string folder = HfTestModel.WriteFolder(Path.Combine(dir, "hf"), spec, Vocab);
        string gguf = Path.Combine(dir, "twin.gguf");
        HfTestModel.WriteGgufTwin(gguf, spec, Vocab);
        return (folder, gguf);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void F32FolderGivesExactlyTheLogitsOfItsGgufTwin(bool sharded, bool tied)
    {
        var (folder, gguf) = Pair(new HfTestSpec { Sharded = sharded, Tied = tied }, "hf-f32");
        using var model = Qwen2Model.Load(folder);
        Assert.Null(model.File);
        Assert.Equal(tied, model.Weights.TiedOutput);
        Assert.Equal(2, model.Config.KvHeadCount);
        var ours = HfLogits.Of(model, Tokens);
        var twin = HfLogits.Of(gguf, Tokens);
        Assert.True(HfLogits.Range(twin) > 1, "flat logits would make the comparison meaningless");
        Assert.Equal(0, HfLogits.MaxAbsDiff(ours, twin));
    }

    [Theory]
    [InlineData("BF16", GgmlType.BF16)]
    [InlineData("F16", GgmlType.F16)]
    public void HalfPrecisionFolderRunsInPlaceAndAgreesWithTheF32Twin(string dtype, GgmlType type)
    {
        var (folder, gguf) = Pair(new HfTestSpec { DType = dtype }, "hf-half");
        using var model = Qwen2Model.Load(folder);
        Assert.Equal(type, model.Weights.Layers[0].Wq.Type);
        double cos = HfLogits.MinCosine(HfLogits.Of(model, Tokens), HfLogits.Of(gguf, Tokens));
        output.WriteLine($"min cosine {cos:F7}");
        Assert.True(cos >= 0.9999, $"min cosine {cos}");
    }

    [Theory]
    [InlineData("q8_0", GgmlType.Q8_0)]
    [InlineData("q4_0", GgmlType.Q4_0)]
    [InlineData("q4_k", GgmlType.Q4_K)]
    public void LoadTimeQuantizationMatchesQuantizingTheGgufTwin(string name, GgmlType type)
    {
        var spec = new HfTestSpec { Hidden = 256, Ffn = 512, DType = "BF16" };
        var (folder, gguf) = Pair(spec, "hf-quant");
        var options = new ModelLoadOptions { Quantize = ModelLoadOptions.ParseQuantizeType(name) };
        using var model = Qwen2Model.Load(folder, options);
        Assert.Equal(type, model.Weights.Layers[0].WUp.Type);
        Assert.Equal(type, model.Weights.TokenEmbedding.Type);
        // The twin holds the same (bf16-exact) values in F32; quantized the same way they must give the same bytes.
        var ours = HfLogits.Of(model, Tokens);
        var twin = HfLogits.Of(gguf, Tokens, options);
        Assert.Equal(0, HfLogits.MaxAbsDiff(ours, twin));
        // And the quantized matrices are close to the originals (random weights make the logits themselves chaotic);
        // read row by row, so in the file's layout (a repacked Q4_0 matrix has no contiguous rows)
        using var plain = Qwen2Model.Load(folder);
        using var rows = Qwen2Model.Load(folder, options with { RepackWeights = false });
        double error = RelativeRmsError(plain.Weights.Layers[1].WDown, rows.Weights.Layers[1].WDown);
        output.WriteLine($"{name}: relative RMS error of ffn_down {error:F4}");
        Assert.True(error < (type == GgmlType.Q8_0 ? 0.01 : 0.12), $"relative RMS error {error}");
        Assert.True(error > 0, "nothing was quantized");
    }

    private static unsafe double RelativeRmsError(WeightMatrix exact, WeightMatrix quantized)
    {
        double err = 0, norm = 0;
        var a = new float[exact.Cols];
        var b = new float[exact.Cols];
        for (int r = 0; r < exact.Rows; r++)
        {
            Dequantize.Row(exact.Type, new ReadOnlySpan<byte>(exact.Row(r), (int)exact.RowBytes), a);
            Dequantize.Row(quantized.Type, new ReadOnlySpan<byte>(quantized.Row(r), (int)quantized.RowBytes), b);
            for (int i = 0; i < a.Length; i++)
            {
                err += (a[i] - b[i]) * (double)(a[i] - b[i]);
                norm += a[i] * (double)a[i];
            }
        }
        return Math.Sqrt(err / norm);
    }

    [Fact]
    public void VocabMergesFolderLoadsTheSameTokenizer()
    {
        var a = Pair(new HfTestSpec(), "hf-tok-json");
        var b = Pair(new HfTestSpec { VocabMerges = true }, "hf-tok-vm");
        Assert.False(File.Exists(Path.Combine(b.Folder, "tokenizer.json")));
        using var ma = Qwen2Model.Load(a.Folder);
        using var mb = Qwen2Model.Load(b.Folder);
        const string text = "the cat and the hat<|im_end|> then 123 ings";
        Assert.Equal(ma.Tokenizer.Encode(text), mb.Tokenizer.Encode(text));
        Assert.Equal(ma.Tokenizer.VocabSize, mb.Tokenizer.VocabSize);
        Assert.True(mb.Tokenizer.IsSpecial(Vocab.Eos));
    }

    [Fact]
    public void TokenizerConfigAndGenerationConfigGiveTemplateStopsAndSampling()
    {
        string gen = """{"bos_token_id": 1, "do_sample": true, "eos_token_id": [5, 7], "repetition_penalty": 1.1, "top_p": 0.8, "top_k": 20}""";
        var (folder, _) = Pair(new HfTestSpec { GenerationConfigJson = gen }, "hf-gen");
        using var m = Qwen2Model.Load(folder);
        Assert.Equal(SyntheticQwen2.ChatMlTemplateSource, m.ChatTemplate);
        Assert.Equal(Vocab.Eos, m.Special.Eos);
        Assert.Equal(Vocab.Pad, m.Special.Pad);
        Assert.Equal(Vocab.Bos, m.Special.Bos);
        Assert.Contains(5, m.Special.StopTokens);
        Assert.Contains(7, m.Special.StopTokens);
        Assert.Contains(Vocab.Eos, m.Special.StopTokens);
        var s = m.DefaultSampling!;
        Assert.Equal(0.8f, s.TopP);
        Assert.Equal(20, s.TopK);
        Assert.Equal(1.1f, s.RepeatPenalty);
        Assert.Equal(1f, s.Temperature);   // not set: transformers' default
        Assert.Equal(0f, s.MinP);
        Assert.Equal("hf", m.Name);
    }

    [Fact]
    public void GreedyGenerationConfigMeansGreedySampling()
    {
        var (folder, gguf) = Pair(new HfTestSpec { GenerationConfigJson = """{"do_sample": false, "eos_token_id": 5, "max_new_tokens": 2048}""" }, "hf-gen2");
        using var m = Qwen2Model.Load(folder);
        Assert.Equal(0f, m.DefaultSampling!.Temperature);
        using var g = Qwen2Model.Load(gguf);
        Assert.Null(g.DefaultSampling);
    }

    private static string Broken(Action<string> breakIt, HfTestSpec? spec = null)
    {
        var (folder, _) = Pair(spec ?? new HfTestSpec(), "hf-broken");
        breakIt(folder);
        return folder;
    }

    internal static void RewriteSafetensors(string folder, Func<string, bool> keep, Action<SafetensorsWriter>? add = null)
    {
        string path = Path.Combine(folder, "model.safetensors");
        var w = new SafetensorsWriter();
        using (var f = SafetensorsFile.Open(path))
            foreach (var t in f.Tensors.Where(t => keep(t.Name)))
                w.Add(t.Name, t.DType, t.Shape, f.GetSpan(t).ToArray());
        add?.Invoke(w);
        w.Write(path);
    }

    internal static void EditConfig(string folder, Action<JsonObject> edit)
    {
        string path = Path.Combine(folder, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void MissingTensorIsNamedInHfTerms()
    {
        string folder = Broken(f => RewriteSafetensors(f, n => n != "model.layers.1.mlp.up_proj.weight"));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("missing tensor model.layers.1.mlp.up_proj.weight", e.Message);
    }

    [Fact]
    public void ExtraTensorIsRefused()
    {
        string folder = Broken(f => RewriteSafetensors(f, _ => true, w => w.Add("model.layers.0.self_attn.o_proj.bias", "F32", [64], new byte[256])));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", e.Message);
        Assert.Contains("extra tensor", e.Message);
    }

    [Fact]
    public void TensorOfAnExtraLayerIsRefused()
    {
        string folder = Broken(f => RewriteSafetensors(f, _ => true, w => w.Add("model.layers.9.input_layernorm.weight", "F32", [64], new byte[256])));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("model.layers.9.input_layernorm.weight does not belong to a 2-layer", e.Message);
    }

    [Fact]
    public void UnusableDtypeIsRefused()
    {
        string folder = Broken(f => RewriteSafetensors(f, n => n != "model.norm.weight", w => w.Add("model.norm.weight", "I32", [64], new byte[256])));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("model.norm.weight has dtype I32", e.Message);
    }

    [Fact]
    public void ShapeNotMatchingConfigIsRefused()
    {
        string folder = Broken(f => EditConfig(f, c => c["intermediate_size"] = 96));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("ffn_gate.weight has shape [64, 128], expected [64, 96]", e.Message);
    }

    [Theory]
    [InlineData("model_type", "llama", "is not a Qwen2 model")]
    [InlineData("hidden_act", "gelu", "hidden_act 'gelu'")]
    [InlineData("use_sliding_window", true, "sliding-window")]
    [InlineData("num_key_value_heads", 3, "not a multiple")]
    [InlineData("hidden_size", -1, "out of range")]
    [InlineData("vocab_size", 10, "token_embd.weight has shape [64, 335], expected [64, 10]")]
    public void BadConfigIsRefused(string key, object value, string expected)
    {
        string folder = Broken(f => EditConfig(f, c => c[key] = JsonValue.Create(value)));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        output.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MoeConfigOverDenseWeightsIsRefusedAsExtraTensors()
    {
        string folder = Broken(f => EditConfig(f, c =>
        {
            c["model_type"] = "qwen2_moe";
            c["num_experts"] = 60;
            c["num_experts_per_tok"] = 4;
            c["moe_intermediate_size"] = 1408;
            c["shared_expert_intermediate_size"] = 5632;
            c["norm_topk_prob"] = false;
        }));
        var config = HuggingFaceConfig.Read(Path.Combine(folder, "config.json"));
        Assert.Equal(new HuggingFaceMoeFields(60, 4, 1408, 5632, false, 1), config.Moe);
        Assert.Equal("qwen2moe", config.Config.Architecture);
        Assert.Equal(new Qwen2MoeConfig { ExpertCount = 60, ExpertUsedCount = 4, ExpertFeedForwardSize = 1408, SharedFeedForwardSize = 5632 }, config.Config.Moe);
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight does not belong to a 2-layer, 60-expert Qwen2-MoE model (extra tensor)", e.Message);
    }

    [Fact]
    public void FolderWithoutTokenizerSaysSo()
    {
        string folder = Broken(f => File.Delete(Path.Combine(f, "tokenizer.json")));
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(folder));
        Assert.Contains("no tokenizer", e.Message);
    }
}

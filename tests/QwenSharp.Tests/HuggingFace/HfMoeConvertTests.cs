using LLama.Native;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Qwen1.5-MoE folders converted to qwen2moe GGUF: llama.cpp must load them and compute the logits a naive
/// double-precision MoE forward computes from the HF weights directly; quantized, the tensor types must be those
/// llama-quantize picks.</summary>
public class HfMoeConvertTests(ITestOutputHelper output)
{
    private static readonly int[] Tokens = [1, 200, 37, 256, 300, 5, 99, 260, 261, 17, 42, 3, 120, 121];

    [Fact]
    public void ConvertedMoeRunsInLlamaCppLikeTheNaiveReference()
    {
        string dir = TestPaths.NewTempDir("hf-moe");
        var spec = new HfMoeSpec();
        var weights = HfMoeTestModel.Write(Path.Combine(dir, "moe"), spec, SyntheticVocabulary.ByteLevel());
        string gguf = Path.Combine(dir, "moe-f32.gguf");
        HfToGguf.Convert(Path.Combine(dir, "moe"), gguf, GgufOutputType.F32);
        using (var g = GgufFile.Open(gguf))
        {
            Assert.Equal("qwen2moe", g.GetString("general.architecture"));
            Assert.Equal(4L, g.GetInteger("qwen2moe.expert_count"));
            Assert.Equal(2L, g.GetInteger("qwen2moe.expert_used_count"));
            Assert.Equal(32L, g.GetInteger("qwen2moe.expert_feed_forward_length"));
            Assert.Equal(96L, g.GetInteger("qwen2moe.expert_shared_feed_forward_length"));
            Assert.Equal([64L, 32L, 4L], g.GetTensor("blk.0.ffn_gate_exps.weight").Dims);
            Assert.Equal([32L, 64L, 4L], g.GetTensor("blk.1.ffn_down_exps.weight").Dims);
            Assert.Equal([64L, 4L], g.GetTensor("blk.0.ffn_gate_inp.weight").Dims);
            Assert.Equal([64L], g.GetTensor("blk.0.ffn_gate_inp_shexp.weight").Dims);
        }
        var reference = new NaiveHfQwen2(weights, spec.Hidden, spec.Layers, spec.Heads, spec.KvHeads, spec.Experts, spec.TopK).Logits(Tokens);
        var llama = LlamaCppOracle.Logits(gguf, Tokens);
        double maxAbs = 0, range = 0;
        for (int i = 0; i < Tokens.Length; i++)
        {
            range = Math.Max(range, reference[i].Max() - reference[i].Min());
            for (int j = 0; j < reference[i].Length; j++) maxAbs = Math.Max(maxAbs, Math.Abs(reference[i][j] - llama[i][j]));
        }
        output.WriteLine($"llama.cpp vs naive MoE reference: max |diff| {maxAbs:G3}, logit range {range:F2}");
        Assert.True(range > 3, "flat logits");
        Assert.True(maxAbs < 2e-4, $"max |diff| {maxAbs}");
    }

    [Fact]
    public void MoeQ4KMTypesAndBytesMatchLlamaQuantize()
    {
        string dir = TestPaths.NewTempDir("hf-moe-q");
        HfMoeTestModel.Write(Path.Combine(dir, "moe"), new HfMoeSpec(Hidden: 256, Layers: 8, ExpertFfn: 256, SharedFfn: 512, Experts: 4), SyntheticVocabulary.ByteLevel());
        string f32 = Path.Combine(dir, "f32.gguf"), mine = Path.Combine(dir, "mine.gguf"), reference = Path.Combine(dir, "llama.gguf");
        HfToGguf.Convert(Path.Combine(dir, "moe"), f32, GgufOutputType.F32);
        HfToGguf.Convert(Path.Combine(dir, "moe"), mine, GgufOutputType.Q4_K_M);
        LlamaCppOracle.Quantize(f32, reference, LLamaFtype.MOSTLY_Q4_K_M);
        using var a = GgufFile.Open(mine);
        using var b = GgufFile.Open(reference);
        var wrong = b.Tensors.Where(t => a.GetTensor(t.Name).Type != t.Type)
            .Select(t => $"{t.Name}: ours {GgmlTypeInfo.Name(a.GetTensor(t.Name).Type)}, llama.cpp {GgmlTypeInfo.Name(t.Type)}").ToList();
        output.WriteLine(string.Join(", ", a.Tensors.GroupBy(t => GgmlTypeInfo.Name(t.Type)).Select(g => $"{g.Key} x{g.Count()}")));
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        foreach (var tb in b.Tensors.Where(t => t.DimCount >= 2))
            Assert.True(a.GetTensorSpan(a.GetTensor(tb.Name)).SequenceEqual(b.GetTensorSpan(tb)), $"{tb.Name} bytes differ");
    }
}

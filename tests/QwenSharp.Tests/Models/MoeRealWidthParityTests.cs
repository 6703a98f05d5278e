using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>Outside CI (QWENSHARP_MOE_REAL=1): Qwen1.5-MoE-A2.7B's real widths (hidden 2048, 16 heads, 60 experts,
/// top-4, expert width 1408, shared width 5632) but 2 layers, real vocabulary; ~7 GB of F32 written to temp.
/// Same bars as the tiny model: F32 within 1e-4, quantized cosine >= 0.999.</summary>
public class MoeRealWidthParityTests(ITestOutputHelper output)
{
    public const string Variable = "QWENSHARP_MOE_REAL";

    public static SyntheticModelSpec Spec => new()
    {
        HiddenSize = 2048, FeedForwardSize = 5632, LayerCount = 2, HeadCount = 16, KvHeadCount = 16,
        VocabRows = 151936, ContextLength = 8192, InitStd = 0.05f, Seed = 2024, TiedEmbeddings = false, // llama.cpp requires output.weight for qwen2moe
        Moe = SyntheticMoeSpec.Qwen15MoeA27B, Name = "synthetic-qwen1.5-moe-a2.7b-2layer",
    };

    [EnvironmentFact(Variable)]
    public void RealWidthTwoLayerMoeMatchesLlamaCpp()
    {
        string dir = TestPaths.NewTempDir("moe-real");
        try
        {
            string f32 = Path.Combine(dir, "moe-real-f32.gguf");
            SyntheticQwen2.Write(f32, Spec, RealVocabulary.Get());
            int[] tokens;
            using (var model = Qwen2Model.Load(f32))
                tokens = model.Tokenizer.Encode("<|im_start|>user\nWhich experts answer this? 你好，世界！ 12345 😀<|im_end|>\n<|im_start|>assistant\n");
            Check(f32, tokens, GgmlType.F32);
            foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_K })
            {
                string path = Path.Combine(dir, $"moe-real-{type}.gguf");
                LlamaCppOracle.Quantize(f32, path, type, pure: true);
                Check(path, tokens, type);
                File.Delete(path);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private void Check(string path, int[] tokens, GgmlType type)
    {
        var theirs = LlamaCppOracle.Logits(path, tokens);
        var batch = MoeParityTests.Compare(MoeParityTests.Ours(path, tokens, tokenByToken: false), theirs);
        var single = MoeParityTests.Compare(MoeParityTests.Ours(path, tokens, tokenByToken: true), theirs);
        output.WriteLine($"{type}: {tokens.Length} positions; batch max |diff| {batch.MaxAbs:G4} min cosine {batch.MinCosine:F7}; "
                         + $"token by token max |diff| {single.MaxAbs:G4} min cosine {single.MinCosine:F7}");
        foreach (var r in new[] { batch, single })
        {
            if (type == GgmlType.F32) Assert.True(r.MaxAbs <= 1e-4, $"F32 max |diff| {r.MaxAbs}");
            else Assert.True(r.MinCosine >= 0.999, $"{type} min cosine {r.MinCosine}");
        }
    }
}

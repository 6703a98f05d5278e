using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Models;

/// <summary>The GQA ratios of the family's larger members against llama.cpp: 8:1 (Qwen1.5-32B and -110B: 40 or 64
/// query heads over 8 KV heads; here 16 over 2) and 5:1 (here 10 over 2), plus CodeQwen's 8:1 over 4 KV heads at
/// 32 heads. Small head dims and the small byte-level vocabulary keep the files small.</summary>
public class GqaParityTests(ITestOutputHelper output)
{
    private static readonly int[] Tokens = Enumerable.Range(0, 48).Select(i => 3 + i * 37 % 280).ToArray();

    [Theory]
    [InlineData(16, 2, 16)]  // 8:1
    [InlineData(10, 2, 16)]  // 5:1
    [InlineData(32, 4, 8)]   // CodeQwen1.5's 32:4
    public void GroupedQueryAttentionMatchesLlamaCpp(int heads, int kvHeads, int headDim)
    {
        string dir = TestPaths.NewTempDir("gqa");
        try
        {
            string f32 = Path.Combine(dir, $"gqa-{heads}-{kvHeads}.gguf");
            SyntheticQwen2.Write(f32, new SyntheticModelSpec
            {
                HiddenSize = heads * headDim, FeedForwardSize = 256, LayerCount = 2, HeadCount = heads, KvHeadCount = kvHeads,
                ContextLength = 4096, InitStd = 0.2f, Seed = (ulong)(heads * 100 + kvHeads), TiedEmbeddings = true,
            }, SyntheticVocabulary.ByteLevel());
            using (var model = Qwen2Model.Load(f32)) Assert.Equal(heads / kvHeads, model.Config.HeadsPerKvHead);

            var r = MoeParityTests.Compare(MoeParityTests.Ours(f32, Tokens, tokenByToken: false), LlamaCppOracle.Logits(f32, Tokens));
            output.WriteLine($"{heads}:{kvHeads} F32: max |diff| {r.MaxAbs:G4}, min cosine {r.MinCosine:F7}");
            Assert.True(r.MaxAbs <= 1e-4, $"F32 max |diff| {r.MaxAbs}");

            string q8 = Path.Combine(dir, "q8.gguf");
            LlamaCppOracle.Quantize(f32, q8, GgmlType.Q8_0, pure: true);
            var q = MoeParityTests.Compare(MoeParityTests.Ours(q8, Tokens, tokenByToken: true), LlamaCppOracle.Logits(q8, Tokens));
            output.WriteLine($"{heads}:{kvHeads} Q8_0 token by token: max |diff| {q.MaxAbs:G4}, min cosine {q.MinCosine:F7}");
            Assert.True(q.MinCosine >= 0.999, $"Q8_0 min cosine {q.MinCosine}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

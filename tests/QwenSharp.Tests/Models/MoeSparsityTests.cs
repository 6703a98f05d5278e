using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>Only the chosen experts are read. Each expert of layer 0 in turn has its bytes overwritten with 0xFF
/// (fp16 NaN scales, so any dot product with it is NaN, and NaN survives even a zero router weight): logits stay
/// bit-identical when nobody chose that expert and turn NaN when somebody did. Exactly top-k experts poison a
/// single decoded token, which a dense evaluation (every expert computed, unchosen ones weighted 0) would fail.</summary>
public class MoeSparsityTests
{
    private static float[][] Run(string path, int[] tokens)
    {
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, KvCacheType = KvCacheType.F32 });
        int n = ctx.Decode(tokens.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray());
        return Enumerable.Range(0, n).Select(o => ctx.Logits(o).ToArray()).ToArray();
    }

    private static string Poisoned(string source, int expert, string dir)
    {
        byte[] bytes = File.ReadAllBytes(source);
        using (var file = GgufFile.Open(source))
        {
            foreach (string name in new[] { "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight", "blk.0.ffn_down_exps.weight" })
            {
                var t = file.GetTensor(name);
                long slice = t.ByteSize / t.Dims[2];
                bytes.AsSpan((int)(file.DataOffset + t.Offset + expert * slice), (int)slice).Fill(0xFF);
            }
        }
        string path = Path.Combine(dir, $"poisoned-{expert}.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(1)]  // one decoded token: exactly top-k experts are read
    [InlineData(3)]  // a prompt: the union of its tokens' choices
    public void UnchosenExpertsAreNeverRead(int tokenCount)
    {
        string source = SyntheticModels.TinyMoeQ8;
        int[] tokens = [.. Enumerable.Range(0, tokenCount).Select(i => 70 + 13 * i)];
        var clean = Run(source, tokens);
        string dir = TestPaths.NewTempDir("moe-sparsity");
        int experts, used;
        using (var model = Qwen2Model.Load(source)) (experts, used) = (model.Config.Moe!.ExpertCount, model.Config.Moe.ExpertUsedCount);
        int poisoning = 0;
        for (int e = 0; e < experts; e++)
        {
            var logits = Run(Poisoned(source, e, dir), tokens);
            bool nan = logits.Any(row => row.Any(float.IsNaN));
            if (nan) poisoning++;
            else for (int i = 0; i < logits.Length; i++) Assert.Equal(clean[i], logits[i]); // bit-identical: the expert was never read
        }
        if (tokenCount == 1) Assert.Equal(used, poisoning);
        else Assert.InRange(poisoning, used, experts);
        Directory.Delete(dir, recursive: true);
    }
}

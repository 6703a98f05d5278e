using System.Numerics.Tensors;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

public class Qwen2ForwardTests
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33, 10, 84, 104, 101, 32, 113, 117, 105, 99, 107];

    private static float[][] EngineLogits(string path, int[] tokens, KvCacheType kv = KvCacheType.F32, int threads = 2)
    {
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = threads, KvCacheType = kv });
        var batch = tokens.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray();
        int outputs = ctx.Decode(batch);
        Assert.Equal(tokens.Length, outputs);
        return Enumerable.Range(0, outputs).Select(o => ctx.Logits(o).ToArray()).ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void F32LogitsMatchTheNaiveReferenceAtEveryPosition(bool tied)
    {
        string path = tied ? SyntheticModels.TinyF32 : SyntheticModels.TinyUntied;
        var expected = new NaiveQwen2(path).Logits(Prompt);
        var actual = EngineLogits(path, Prompt);
        double maxDiff = 0, spread = 0;
        for (int i = 0; i < Prompt.Length; i++)
        {
            for (int j = 0; j < expected[i].Length; j++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[i][j] - actual[i][j]));
            spread = Math.Max(spread, expected[i].Max() - expected[i].Min());
        }
        Assert.True(spread > 5, $"logits are nearly flat (range {spread}); the comparison would mean little");
        Assert.True(maxDiff < 1e-4, $"max |engine - reference| = {maxDiff}");
    }

    [Fact]
    public void TokenByTokenDecodingGivesTheSameLogitsAsOneBatch()
    {
        var batched = EngineLogits(SyntheticModels.TinyF32, Prompt);
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, KvCacheType = KvCacheType.F32 });
        for (int i = 0; i < Prompt.Length; i++)
        {
            ctx.Decode([new BatchEntry(Prompt[i], i, 0, true)]);
            var step = ctx.Logits(0);
            for (int j = 0; j < step.Length; j++) Assert.True(Math.Abs(step[j] - batched[i][j]) < 1e-5, $"position {i} token {j}");
        }
    }

    [Fact]
    public void SequencesInterleavedInOneBatchDoNotSeeEachOther()
    {
        int[] a = Prompt[..10], b = Prompt[5..17];
        var aloneA = EngineLogits(SyntheticModels.TinyF32, a);
        var aloneB = EngineLogits(SyntheticModels.TinyF32, b);
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, MaxSequences = 2, Threads = 2, KvCacheType = KvCacheType.F32 });
        var batch = new List<BatchEntry>();
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            if (i < b.Length) batch.Add(new BatchEntry(b[i], i, 1, true));
            if (i < a.Length) batch.Add(new BatchEntry(a[i], i, 0, true));
        }
        ctx.Decode(batch.ToArray());
        int output = 0;
        foreach (var e in batch)
        {
            var expected = e.Sequence == 0 ? aloneA[e.Position] : aloneB[e.Position];
            var got = ctx.Logits(output++);
            for (int j = 0; j < got.Length; j++) Assert.True(Math.Abs(got[j] - expected[j]) < 1e-5, $"seq {e.Sequence} pos {e.Position}");
        }
    }

    [Fact]
    public void F16CacheStaysCloseToF32()
    {
        var f32 = EngineLogits(SyntheticModels.TinyF32, Prompt, KvCacheType.F32);
        var f16 = EngineLogits(SyntheticModels.TinyF32, Prompt, KvCacheType.F16);
        for (int i = 0; i < Prompt.Length; i++)
            Assert.True(TensorPrimitives.CosineSimilarity(f32[i], f16[i]) > 0.9999, $"position {i}");
    }

    [Fact]
    public void OneThreadAndTwoThreadsAgree()
    {
        var one = EngineLogits(SyntheticModels.TinyQ8, Prompt, threads: 1);
        var two = EngineLogits(SyntheticModels.TinyQ8, Prompt, threads: 2);
        for (int i = 0; i < Prompt.Length; i++) Assert.Equal(one[i], two[i]);
    }

    [Fact]
    public void BadBatchesAreRejectedWithClearErrors()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 8, Threads = 1 });
        var gap = Assert.Throws<QwenSharpException>(() => ctx.Decode([new BatchEntry(1, 3, 0, true)]));
        Assert.Contains("position 3", gap.Message);
        var vocab = Assert.Throws<QwenSharpException>(() => ctx.Decode([new BatchEntry(model.Config.VocabSize, 0, 0, true)]));
        Assert.Contains("outside the vocabulary", vocab.Message);
        var seq = Assert.Throws<QwenSharpException>(() => ctx.Decode([new BatchEntry(1, 0, 1, true)]));
        Assert.Contains("sequence 1", seq.Message);
        ctx.Decode(Enumerable.Range(0, 8).Select(i => new BatchEntry(65, i, 0, i == 7)).ToArray());
        Assert.Throws<ContextFullException>(() => ctx.Decode([new BatchEntry(1, 8, 0, true)]));
    }
}

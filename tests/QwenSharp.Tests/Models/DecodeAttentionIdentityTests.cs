using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>Decode steps run attention through SingleRowAttention (items of at most AttentionJob.SingleRowMax rows),
/// a prompt through BlockAttention: the logits of a prompt processed in one batch and of the same tokens decoded one
/// by one (alone, or interleaved with other sequences in one batch) must be the same bits, with either cache type.</summary>
public class DecodeAttentionIdentityTests
{
    // MHA with head dim 64 (the 0.5B's attention shape, one row per KV head in decode), and the GQA 4:2 tiny model
    // (head dim 16: two rows per item, the dot products all tail).
    private static string Mha => SyntheticModels.Get("mha-hd64-f32", SyntheticModels.Tiny with { HiddenSize = 256, HeadCount = 4, KvHeadCount = 4, Seed = 11 });

    private static int[] Tokens(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => rng.Next(32, 127)).ToArray();
    }

    public static TheoryData<bool, KvCacheType> Cases => new()
    {
        { true, KvCacheType.F16 }, { true, KvCacheType.F32 }, { false, KvCacheType.F16 }, { false, KvCacheType.F32 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PromptBatchAndTokenByTokenDecodeGiveTheSameBits(bool mha, KvCacheType kv)
    {
        string path = mha ? Mha : SyntheticModels.TinyF32;
        int[] prompt = Tokens(40, 1);
        using var model = Qwen2Model.Load(path);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, MaxSequences = 3, Threads = 2, KvCacheType = kv });

        // Sequence 0: the whole prompt in one batch.
        ctx.Decode(prompt.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray());
        var batched = Enumerable.Range(0, prompt.Length).Select(o => ctx.Logits(o).ToArray()).ToArray();

        // Sequence 1: token by token, alone, then with sequence 2 decoding other tokens in the same batches.
        int[] other = Tokens(40, 2);
        for (int i = 0; i < prompt.Length; i++)
        {
            if (i < 20) ctx.Decode([new BatchEntry(prompt[i], i, 1, true)]);
            else ctx.Decode([new BatchEntry(prompt[i], i, 1, true), new BatchEntry(other[i], i - 20, 2, true)]);
            var step = ctx.Logits(0);
            for (int j = 0; j < step.Length; j++)
                Assert.True(BitConverter.SingleToInt32Bits(step[j]) == BitConverter.SingleToInt32Bits(batched[i][j]),
                    $"position {i} token {j}: decoded {step[j]:R} vs prompt batch {batched[i][j]:R}");
        }
    }
}

using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>The KV cache remembers, per layer, sequence and KV head, whether an fp16 row stored since the sequence was
/// cleared holds an infinity or NaN, so decode attention can skip scanning a head's history for them: a normal model
/// keeps every head finite; a row past fp16's range, stored directly or by a model whose keys overflow (hostile
/// weights), marks its head, and only clearing the sequence forgets it.</summary>
public class KvCacheFiniteRowsTests
{
    private static bool AllFinite(KvCache cache, int sequence)
    {
        for (int l = 0; l < cache.LayerCount; l++)
            for (int h = 0; h < cache.KvHeadCount; h++)
                if (!cache.RowsFinite(l, sequence, h)) return false;
        return true;
    }

    [Fact]
    public unsafe void AStoredRowPastFp16sRangeMarksItsHeadThroughTruncationUntilCleared()
    {
        using var cache = new KvCache(layers: 2, sequences: 2, contextLength: 16, kvHeads: 3, headDim: 8, KvCacheType.F16);
        float* key = stackalloc float[8], value = stackalloc float[8];
        for (int i = 0; i < 8; i++) { key[i] = i * 0.5f; value[i] = -i; }
        for (int pos = 0; pos < 6; pos++)
            for (int h = 0; h < 3; h++) cache.Store(1, 1, h, pos, key, value);
        cache.MarkWritten(1, 5);
        Assert.True(AllFinite(cache, 0) && AllFinite(cache, 1));   // finite rows mark nothing

        value[3] = 70000f;                                          // finite in fp32, an infinity in fp16
        cache.Store(1, 1, 2, 6, key, value);
        Assert.False(cache.RowsFinite(1, 1, 2));
        Assert.True(cache.RowsFinite(1, 1, 1) && cache.RowsFinite(0, 1, 2) && cache.RowsFinite(1, 0, 2));   // only that head
        cache.Truncate(1, 2);
        Assert.False(cache.RowsFinite(1, 1, 2));   // conservative: the exact conversion gives the same bits
        cache.Clear(1);
        Assert.True(AllFinite(cache, 1));

        using var exact = new KvCache(layers: 1, sequences: 1, contextLength: 4, kvHeads: 1, headDim: 8, KvCacheType.F32);
        exact.Store(0, 0, 0, 0, key, value);
        Assert.True(exact.RowsFinite(0, 0, 0));    // fp32 rows hold 70000 as it is
    }

    [Fact]
    public void KeysThatOverflowFp16MarkTheirHeadsAndANormalModelMarksNone()
    {
        using var normal = Qwen2Model.Load(SyntheticModels.TinyF32);
        using (var ctx = new Qwen2Context(normal, new ContextOptions { ContextLength = 32, Threads = 2 }))
        {
            for (int pos = 0; pos < 8; pos++) ctx.Decode([new BatchEntry(65 + pos, pos, 0, true)]);
            Assert.True(AllFinite(ctx.Cache, 0));
        }

        // weights of std 20000: a normed input (RMS 1) through 64 such columns gives keys far past fp16's 65504
        using var hostile = Qwen2Model.Load(SyntheticModels.Get("tiny-f32-std20000", SyntheticModels.Tiny with { InitStd = 20000f, Seed = 21 }));
        using var hctx = new Qwen2Context(hostile, new ContextOptions { ContextLength = 32, Threads = 2 });
        hctx.Decode([new BatchEntry(70, 0, 0, true)]);
        Assert.False(AllFinite(hctx.Cache, 0));
        hctx.Cache.Clear(0);
        Assert.True(AllFinite(hctx.Cache, 0));
    }
}

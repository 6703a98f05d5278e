using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>A single-entry decode step runs each layer's q/k/v, RoPE, cache store and attention as one job split by
/// KV heads (DecodeAttentionJob) when they split evenly over the threads; the general path does the same in three
/// steps. Both must give the same bits, for interleaved quantized weights and F32 ones, MHA and GQA, either cache
/// type, one thread or several; with three threads on two or four KV heads decode takes the general path. Where each
/// slot's heads hold whole blocks of Wo's input the slots quantize it too (a block cut by a slot edge by the second
/// slot there), and each thread norms and quantizes the layer input itself (ThreadInputs; the general path's calling
/// thread norms it): the same bits again, with and without the Wo quantization.</summary>
public class DecodeAttentionJobTests
{
    public static TheoryData<string, int, KvCacheType> Cases()
    {
        var data = new TheoryData<string, int, KvCacheType>();
        foreach (string model in new[] { "q4_0", "tied-q8_0", "mha-f32", "tiny-gqa-f32", "q8_0-hd16", "tied-q4_k" })
            foreach (int threads in new[] { 1, 2, 3, 4 })
                data.Add(model, threads, KvCacheType.F16);
        data.Add("q4_0", 2, KvCacheType.F32);
        data.Add("mha-f32", 4, KvCacheType.F32);
        return data;
    }

    private static string Model(string name) => name switch
    {
        "q4_0" => SyntheticModels.SmallQ4_0,              // 4 heads on 2 KV heads, head dim 64, repacked Interleaved8
        "tied-q8_0" => SyntheticModels.SmallTiedQ8_0,
        "tied-q4_k" => SyntheticModels.SmallTiedQ4_K,     // Q8_K input for Wo: at two threads a slot's 128 floats hold no block
        "mha-f32" => SyntheticModels.Get("mha-hd64-f32", SyntheticModels.Tiny with { HiddenSize = 256, HeadCount = 4, KvHeadCount = 4, Seed = 11 }),
        // six heads of 16: at two threads a slot's heads end mid-way through a Q8_0 block of Wo's input (48 of 96)
        "q8_0-hd16" => SyntheticModels.Get("q8_0-hd16", SyntheticModels.Tiny with
        {
            WeightType = QwenSharp.Tensors.GgmlType.Q8_0, HiddenSize = 96, HeadCount = 6, KvHeadCount = 6, FeedForwardSize = 96, Seed = 12,
        }),
        _ => SyntheticModels.TinyF32,                     // head dim 16
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheOneJobBlockGivesTheSameBitsAsTheThreeStepPath(string name, int threads, KvCacheType kv)
    {
        using var model = Qwen2Model.Load(Model(name));
        var options = new ContextOptions { ContextLength = 64, Threads = threads, KvCacheType = kv };
        using var fused = new Qwen2Context(model, options);
        using var general = new Qwen2Context(model, options) { FusedDecodeAttention = false };
        DecodePathAgreement.AssertSameBits(40, threads * 31 + name.Length, 65, (general, "three steps"),
            (fused, "one job"));
        bool even = model.Config.KvHeadCount % threads == 0;
        Assert.Equal(even ? 40L * model.Config.LayerCount : 0, fused.FusedAttentionRuns);   // the one-job path did run
        Assert.Equal(0, general.FusedAttentionRuns);
        // every slot's heads hold a whole block of Wo's input (Q8_0: 32; F32: 1) but Q8_K's 256 over two threads
        bool quantizesWo = even && !(name == "tied-q4_k" && threads >= 2);
        Assert.Equal(quantizesWo ? 40L * model.Config.LayerCount : 0, fused.FusedWoInputRuns);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]   // a slot's two heads of 64 hold 128 of Q8_K's 256
    public void SlotsQuantizeWoInputOnlyWhenEachHoldsABlock(int threads, bool quantizes)
    {
        using var model = Qwen2Model.Load(SyntheticModels.SmallTiedQ4_K);   // hidden 256, Q8_K input
        var layer = model.Weights.Layers[0];
        Assert.Equal(quantizes, DecodeAttentionJob.QuantizesWoInput(model.Config, layer, threads));
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 16, Threads = threads });
        ctx.Decode([new BatchEntry(65, 0, 0, true)]);
        Assert.Equal(quantizes ? model.Config.LayerCount : 0, ctx.FusedWoInputRuns);
    }

    /// <summary>The single-entry jobs (attention with Wo's input, gate/up with SwiGLU) run for steps of one entry only.</summary>
    [Fact]
    public void StepsOfSeveralEntriesTakeTheGeneralPaths()
    {
        using var model = Qwen2Model.Load(SyntheticModels.SmallQ4_0);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, MaxSequences = 2 });
        ctx.Decode([new BatchEntry(65, 0, 0, true), new BatchEntry(66, 0, 1, true)]);
        Assert.Equal((0L, 0L, 0L), (ctx.FusedAttentionRuns, ctx.FusedWoInputRuns, ctx.FusedGateUpRuns));
        ctx.Decode([new BatchEntry(67, 1, 0, true)]);
        long layers = model.Config.LayerCount;
        Assert.Equal((layers, layers, layers), (ctx.FusedAttentionRuns, ctx.FusedWoInputRuns, ctx.FusedGateUpRuns));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void EachThreadTriesItsOwnSlotFirstThenEveryOtherOnce(int slots)
    {
        for (int t = 0; t < slots; t++)
        {
            var order = Enumerable.Range(0, slots).Select(step => DecodeSlotJob.SlotOrder(t, slots, step)).ToArray();
            Assert.Equal(t, order[0]);
            Assert.Equal(Enumerable.Range(0, slots), order.OrderBy(s => s));
            // the others from the far end: a late thread's own slot is taken over last
            Assert.Equal(Enumerable.Range(0, slots).Where(s => s != t).Reverse(), order.Skip(1));
        }
    }
}

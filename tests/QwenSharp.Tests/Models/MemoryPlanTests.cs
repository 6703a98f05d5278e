using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>Memory planning: sizes derived by hand from shapes, and the refusal to load or allocate what would not fit.</summary>
public class MemoryPlanTests
{
    [Fact]
    public void CodeQwen64kContextKvCacheIsFourGiBInF16()
    {
        var code = Qwen15Presets.Find("CodeQwen1.5-7B")!;
        var plan = MemoryPlan.ForConfig(code.Config, code.TiedEmbeddings, 2.0, 65536, KvCacheType.F16);
        // 32 layers × 65536 positions × (4 KV heads × 128) × {K, V} × 2 bytes
        Assert.Equal(32L * 65536 * 512 * 2 * 2, plan.KvCacheBytes);
        Assert.Equal(1L << 32, plan.KvCacheBytes);
        Assert.Equal((long)(code.ParameterCount * 2.0), plan.WeightBytes);
        Assert.Equal(plan.WeightBytes + plan.KvCacheBytes + plan.BufferBytes, plan.TotalBytes);
    }

    [Fact]
    public void FilePlanCountsEveryTensorAsStored()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        var plan = MemoryPlan.ForFile(model.Source, model.Config, 256, KvCacheType.F32);
        Assert.Equal(model.Config.ParameterCount(tiedOutput: true), plan.ParameterCount); // all F32: 4 bytes each
        Assert.Equal(plan.ParameterCount * 4, plan.WeightBytes);
        Assert.Equal(2L * 2 * 256 * model.Config.KvDim * 4, plan.KvCacheBytes);
    }

    [Fact]
    public void ContextThatDoesNotFitFailsBeforeAllocating()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<NotEnoughMemoryException>(() =>
            new Qwen2Context(model, new ContextOptions { ContextLength = 1 << 22, Threads = 1, AvailableMemoryBytes = 64L << 20 }));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "buffers were allocated before the check");
        Assert.Equal(64L << 20, e.AvailableBytes);
        Assert.True(e.NeededBytes > e.AvailableBytes);
        Assert.Contains("4194304-token context", e.Message);
        Assert.Contains("64.0 MiB available", e.Message);
        using var fits = new Qwen2Context(model, new ContextOptions { ContextLength = 1024, Threads = 1, AvailableMemoryBytes = 64L << 20 });
        Assert.Equal(1024, fits.ContextLength);
    }

    [Fact]
    public void ModelWhoseWeightsDoNotFitIsRefusedAtLoad()
    {
        var e = Assert.Throws<NotEnoughMemoryException>(() => Qwen2Model.Load(SyntheticModels.TinyF32, new ModelLoadOptions { AvailableMemoryBytes = 4096 }));
        Assert.Contains("weights of tiny-f32.gguf", e.Message);
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32, new ModelLoadOptions { AvailableMemoryBytes = 1L << 30 });
        Assert.Equal(model.Config.ParameterCount(true) * 4, e.NeededBytes);
    }

    [Fact]
    public void DetectedAvailableMemoryIsPlausible()
    {
        long? available = AvailableMemory.Detect();
        Assert.NotNull(available);
        Assert.InRange(available!.Value, 16L << 20, 1L << 50);
    }

    [Fact]
    public void SixtyFourThousandTokenContextIsAllocatedWhenAsked()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 65536, Threads = 1 });
        Assert.Equal(65536, ctx.ContextLength);
        Assert.Equal(65536, ctx.Cache.ContextLength);
        ctx.Decode([new BatchEntry(65, 0, 0, true)]);
        Assert.Equal(1, ctx.Cache.Length(0));
    }
}

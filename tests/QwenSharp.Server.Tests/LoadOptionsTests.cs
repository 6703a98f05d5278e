using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests;

namespace QwenSharp.Server.Tests;

/// <summary>`qwen serve --quantize/--no-repack` reach the models the server loads (ServerOptions.LoadOptions): a Q4_0
/// model whose matrices can be repacked is repacked by default and kept in the file's layout with RepackWeights off.</summary>
public class LoadOptionsTests
{
    private static readonly Lazy<string> Folder = new(() =>
    {
        string dir = TestPaths.NewTempDir("serve-load-options");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 256, FeedForwardSize = 512, LayerCount = 1, HeadCount = 4, KvHeadCount = 2,
            ContextLength = 256, InitStd = 0.1f, Seed = 21, WeightType = GgmlType.Q4_0, Name = "q4",
        };
        SyntheticQwen2.Write(Path.Combine(dir, "q4.gguf"), spec, SyntheticVocabulary.ByteLevel());
        return dir;
    });

    private static async Task<WeightLayout> LayoutServed(ModelLoadOptions load)
    {
        var options = new ServerOptions { ModelsDirectory = Folder.Value, Threads = 1, ContextLength = 64, LoadOptions = load };
        using var registry = new ModelRegistry(options, new ServerCounters());
        var model = await registry.AcquireAsync("q4");
        try { return model.Model.Weights.Layers[0].WGate.Layout; }
        finally { registry.Release(model, TimeSpan.Zero); }
    }

    [Fact]
    public async Task RepackingFollowsTheServersLoadOptions()
    {
        // Q4_0's interleaved kernel needs AVX2 + FMA; elsewhere nothing is repacked
        bool avx2 = System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;
        Assert.Equal(avx2 ? WeightLayout.Interleaved8 : WeightLayout.Rows, await LayoutServed(ModelLoadOptions.Default));
        Assert.Equal(WeightLayout.Rows, await LayoutServed(new ModelLoadOptions { RepackWeights = false }));
    }
}

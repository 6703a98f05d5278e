using System.Numerics.Tensors;
using QwenSharp.Models;

namespace QwenSharp.Tests.HuggingFace;

internal static class HfLogits
{
    public static float[][] Of(Qwen2Model model, int[] tokens)
    {
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 256, Threads = 2, KvCacheType = KvCacheType.F32 });
        int n = ctx.Decode(tokens.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray());
        return Enumerable.Range(0, n).Select(o => ctx.Logits(o).ToArray()).ToArray();
    }

    public static float[][] Of(string path, int[] tokens, ModelLoadOptions? options = null)
    {
        using var model = Qwen2Model.Load(path, options);
        return Of(model, tokens);
    }

    public static double MaxAbsDiff(float[][] a, float[][] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i].Length, b[i].Length);
            for (int j = 0; j < a[i].Length; j++) max = Math.Max(max, Math.Abs(a[i][j] - b[i][j]));
        }
        return max;
    }

    public static double MinCosine(float[][] a, float[][] b) =>
        a.Zip(b).Min(p => (double)TensorPrimitives.CosineSimilarity(p.First, p.Second));

    public static double Range(float[][] a) => a.Max(r => TensorPrimitives.Max(r) - TensorPrimitives.Min(r));
}

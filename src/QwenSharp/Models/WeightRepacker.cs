using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>The repack at load (ModelLoadOptions.RepackWeights): while weights are bound, each matrix only matmuls
/// read is offered; those whose type and shape have a faster decode layout (Q4_0, Q8_0, Q4_K: <see cref="Interleaved8"/>)
/// and whose bytes the source lets be rewritten come back marked <see cref="WeightLayout.Interleaved8"/>, and
/// <see cref="Run"/> rewrites them in place once every tensor has passed its checks.</summary>
internal sealed unsafe class WeightRepacker(ITensorSource source, bool enabled)
{
    private readonly List<WeightMatrix> _pending = [];

    /// <summary><paramref name="m"/> (a matrix inside <paramref name="tensor"/>), marked for repacking when it can be.</summary>
    public WeightMatrix Offer(in WeightMatrix m, GgufTensorInfo tensor)
    {
        if (!enabled || m.Layout != WeightLayout.Rows || !Interleaved8.Eligible(m.Type, m.Rows, m.Cols)
            || !source.CanRewrite(tensor))
            return m;
        var repacked = new WeightMatrix(m.Name, m.Type, m.Data, m.Rows, m.Cols, WeightLayout.Interleaved8);
        _pending.Add(repacked);
        return repacked;
    }

    /// <summary>Rewrites the offered matrices: their pages made private first, all in one call to the source (a GGUF
    /// mapping puts them on 2 MiB pages), then a matrix per worker. The file itself is never written.</summary>
    public void Run()
    {
        if (_pending.Count == 0) return;
        source.MakePrivate(_pending.Select(m => ((nint)m.Data, m.Rows * m.RowBytes)).ToList());
        Parallel.ForEach(_pending, m => Interleaved8.Interleave(m.Type, m.Data, m.Rows, m.Cols));
        _pending.Clear();
    }
}

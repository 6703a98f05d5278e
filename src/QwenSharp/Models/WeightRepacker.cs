using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>The repack at load (ModelLoadOptions.RepackWeights): while weights are bound, each matrix only matmuls
/// read is offered; those whose type and shape have a faster decode layout (Q4_0, Q8_0, Q4_K, Q6_K: <see cref="Interleaved8"/>)
/// and whose bytes the source lets be rewritten come back marked <see cref="WeightLayout.Interleaved8"/>, and
/// <see cref="Run"/> rewrites them in place once every tensor has passed its checks. F16 matrices keep their layout
/// but are copied into private pages too (<see cref="CopyPays"/>).</summary>
internal sealed unsafe class WeightRepacker(ITensorSource source, bool enabled)
{
    private readonly List<WeightMatrix> _pending = [], _copies = [];

    /// <summary>Types without a repacked layout whose matrices are still worth copying into private 2 MiB pages, in
    /// the file's layout: F16 only. Measured on the project's Intel VM (synthetic 0.5B, tg64 in one process, the copied
    /// model against a RepackWeights = false load of the same file, alternating rounds, both on 2 MiB pages): F16
    /// per-round medians 1.196, 1.146, 1.141 (after evicting and re-reading the file) and 1.108 over four runs of
    /// 6-8 rounds, against a control of 1.012 with neither copied; BF16 1.065 and 1.046 (rounds from 0.952), Q6_K
    /// 0.973 (8 rounds) and 1.033 against a control of 1.026 (12 rounds each), so those stay shared (Q6_K has been
    /// repacked since, where its 512-bit kernel runs: Q6_KInterleaved). Why anonymous pages read faster than the page cache's 2 MiB folios for this
    /// kernel is not known. The copy costs load time: warm loads 217-326 ms instead of 88-182 for 907 MB. On the AMD EPYC
    /// that replaced that VM the same comparison showed no difference either way (file-mapped / copied 0.97-1.02 with
    /// the four-row F16 kernel, 0.99-1.03 with the one-row kernel, both bandwidth states, one run each across a
    /// bandwidth flip left out, 2026-11-27 evening); the copy
    /// stays for the machine where it paid.</summary>
    private static bool CopyPays(GgmlType type) => type == GgmlType.F16;

    /// <summary><paramref name="m"/> (a matrix inside <paramref name="tensor"/>), marked for repacking when it can be.</summary>
    public WeightMatrix Offer(in WeightMatrix m, GgufTensorInfo tensor)
    {
        if (!enabled || m.Layout != WeightLayout.Rows || !source.CanRewrite(tensor))
            return m;
        if (!Interleaved8.Eligible(m.Type, m.Rows, m.Cols))
        {
            if (CopyPays(m.Type)) _copies.Add(m);
            return m;
        }
        var repacked = new WeightMatrix(m.Name, m.Type, m.Data, m.Rows, m.Cols, WeightLayout.Interleaved8);
        _pending.Add(repacked);
        return repacked;
    }

    /// <summary>Rewrites the offered matrices: their pages made private first, all in one call to the source (a GGUF
    /// mapping puts them on 2 MiB pages), then a matrix per worker. The file itself is never written.</summary>
    public void Run()
    {
        if (_pending.Count == 0 && _copies.Count == 0) return;
        source.MakePrivate(_pending.Concat(_copies).Select(m => ((nint)m.Data, m.Rows * m.RowBytes)).ToList());
        _copies.Clear();
        Parallel.ForEach(_pending, m => Interleaved8.Interleave(m.Type, m.Data, m.Rows, m.Cols));
        _pending.Clear();
    }
}

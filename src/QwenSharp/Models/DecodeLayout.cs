using System.Runtime.InteropServices;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>The weights laid out per decode thread, at load: each thread's rows of every layer matrix, in the order
/// a decode step reads them (its q, k and v rows, its Wo rows, its gate and up rows, its down rows; then the next
/// layer; the output head's rows last), end to end in one region of its own on 2 MiB pages, so that a thread's
/// stream and its prefetches run on from one pool run into the next instead of starting cold at every matrix (seven
/// times a layer). The bytes are moved, not doubled: the matrices' old pages are handed back to the system
/// (<see cref="ITensorSource.Release"/>), and a matrix then finds its rows through <see cref="RowSlices"/>.
///
/// Which rows a thread reads is what the decode jobs give it: the query heads of its share of KV heads
/// (<see cref="DecodeAttentionJob"/>) and <see cref="ComputeJob.Slice"/> in 16-row units for the rest
/// (<see cref="DecodeGateUpJob"/>, <see cref="MatMulJob"/>'s own-slice-first decode). A context with another thread
/// count reads the same bits (each kernel call is split at the slice edges it crosses), only not as one stream.
///
/// Measured (2026-11-28, session 19, the synthetic 0.5B files, tg128 rounds alternating in one process, classed by
/// cache-line ping-pong): a model loaded with two decode threads against one loaded with one (both taking their own
/// slice of Wo, down and the output head), q4_0 two CCDs 1.034 (100 pairs), one CCD 1.006 (68); q6_k 1.023 (80) and
/// 1.008 (88). Before it was built, a throwaway copy of the layout against the code before: 1.056 on two CCDs (256
/// pairs), of which 1.022 from the own slices alone; 1.007 on one (82). It also let a farther prefetch pay
/// (<see cref="Tensors.Kernels.PrefetchDistanceTuner.Settings"/>).</summary>
internal sealed unsafe class DecodeLayout : IDisposable
{
    private readonly List<nint> _regions = [];

    private DecodeLayout() { }

    /// <summary>Whether a load lays its weights out for <paramref name="threads"/> decode threads: two or more, a
    /// dense model, and a source that can give the old pages back.</summary>
    public static bool Applies(Qwen2Config c, ITensorSource source, int threads) =>
        threads >= 2 && c.Moe == null && source.CanRelease;

    /// <summary>Moves the rows of <paramref name="w"/>'s layer matrices and output head into one region per thread,
    /// and returns the weights that read them there (the layout, to dispose with the model, in
    /// <paramref name="layout"/>).</summary>
    public static Qwen2Weights Apply(Qwen2Weights w, Qwen2Config c, ITensorSource source, int threads, out DecodeLayout layout)
    {
        layout = new DecodeLayout();
        try
        {
            return layout.Move(w, c, source, threads);
        }
        catch
        {
            layout.Dispose();
            throw;
        }
    }

    /// <summary>The edges of q's, k's and v's shares (<paramref name="threads"/> + 1): the decode attention job's slots,
    /// whole KV heads, where they split evenly; 16-row slices otherwise (the general path splits any rows).</summary>
    internal static int[] HeadEdges(int rows, int kvHeads, int rowsPerKvHead, int threads)
    {
        if (kvHeads % threads != 0) return SliceEdges(rows, threads);
        var edges = new int[threads + 1];
        for (int t = 0; t < threads; t++) edges[t + 1] = DecodeAttentionJob.KvHeads(kvHeads, threads, t).End * rowsPerKvHead;
        return edges;
    }

    /// <summary>The edges of each thread's 16-row slice (<paramref name="threads"/> + 1), as <see cref="ComputeJob.Slice"/>
    /// cuts them for the decode gate/up job and the single-entry matvec.</summary>
    internal static int[] SliceEdges(int rows, int threads)
    {
        var edges = new int[threads + 1];
        for (int t = 0; t < threads; t++) edges[t + 1] = ComputeJob.Slice(rows, t, threads, RowGranule).End;
        return edges;
    }

    /// <summary>Slice edges on whole 16-row units: the decode jobs' granule, and whole groups of every interleaved
    /// layout (eight rows at most).</summary>
    public const int RowGranule = 16;

    private Qwen2Weights Move(Qwen2Weights w, Qwen2Config c, ITensorSource source, int threads)
    {
        int group = c.HeadsPerKvHead, d = c.HeadDim;
        // every matrix with its edges, in the order a decode step reads them
        var plan = new List<(WeightMatrix M, int[] Edges)>();
        foreach (var l in w.Layers)
        {
            plan.Add((l.Wq, HeadEdges(l.Wq.Rows, c.KvHeadCount, group * d, threads)));
            plan.Add((l.Wk, HeadEdges(l.Wk.Rows, c.KvHeadCount, d, threads)));
            plan.Add((l.Wv, HeadEdges(l.Wv.Rows, c.KvHeadCount, d, threads)));
            plan.Add((l.Wo, SliceEdges(l.Wo.Rows, threads)));
            plan.Add((l.WGate, SliceEdges(l.WGate.Rows, threads)));
            plan.Add((l.WUp, SliceEdges(l.WUp.Rows, threads)));
            plan.Add((l.WDown, SliceEdges(l.WDown.Rows, threads)));
        }
        plan.Add((w.Output, SliceEdges(w.Output.Rows, threads)));

        // each thread's region: its slice of every matrix in turn
        var offsets = new long[plan.Count, threads];
        var regions = new byte*[threads];
        for (int t = 0; t < threads; t++)
        {
            long bytes = 0;
            for (int i = 0; i < plan.Count; i++)
            {
                offsets[i, t] = bytes;
                bytes += (plan[i].Edges[t + 1] - plan[i].Edges[t]) * plan[i].M.RowBytes;
            }
            regions[t] = (byte*)HugePages.Allocate(Math.Max(bytes, 1));
            _regions.Add((nint)regions[t]);
        }
        var moved = new WeightMatrix[plan.Count];
        Parallel.For(0, plan.Count, i =>
        {
            var (m, edges) = plan[i];
            var bases = new nint[threads];
            for (int t = 0; t < threads; t++)
            {
                byte* slice = regions[t] + offsets[i, t];
                long bytes = (edges[t + 1] - edges[t]) * m.RowBytes;
                Buffer.MemoryCopy(m.Data + edges[t] * m.RowBytes, slice, bytes, bytes);
                bases[t] = (nint)(slice - edges[t] * m.RowBytes);
            }
            moved[i] = new WeightMatrix(m, new RowSlices(edges, bases));
            // at once, matrix by matrix: the weights are never held twice, only a few matrices at a time
            source.Release([((nint)m.Data, m.Rows * m.RowBytes)]);
        });

        var layers = new Qwen2LayerWeights[w.Layers.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            var l = w.Layers[i];
            int k = 7 * i;
            layers[i] = new Qwen2LayerWeights
            {
                AttnNorm = l.AttnNorm, Bq = l.Bq, Bk = l.Bk, Bv = l.Bv, FfnNorm = l.FfnNorm,
                Wq = moved[k], Wk = moved[k + 1], Wv = moved[k + 2], Wo = moved[k + 3],
                WGate = moved[k + 4], WUp = moved[k + 5], WDown = moved[k + 6],
            };
        }
        var output = moved[^1];
        return new Qwen2Weights
        {
            TokenEmbedding = w.TiedOutput ? output : w.TokenEmbedding,
            Layers = layers,
            OutputNorm = w.OutputNorm,
            Output = output,
            TiedOutput = w.TiedOutput,
        };
    }

    public void Dispose()
    {
        foreach (nint r in _regions) NativeMemory.AlignedFree((void*)r);
        _regions.Clear();
    }
}

using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>The weights laid out per decode thread at load (<see cref="DecodeLayout"/>, ModelLoadOptions.DecodeThreads):
/// each thread's rows of every layer matrix and of the output head in one region, in the order a decode step reads
/// them. The logits stay the same bits as with the weights where the file put them, whatever the context's thread
/// count; the moved matrices' old pages are given back; MoE models, one decode thread and loads without repacking keep
/// the file's places.</summary>
public class DecodeLayoutTests
{
    private static Qwen2Model Load(string path, int decodeThreads) =>
        Qwen2Model.Load(path, new ModelLoadOptions { DecodeThreads = decodeThreads });

    private static WeightMatrix[] Matrices(Qwen2Weights w) =>
        [.. w.Layers.SelectMany(l => new[] { l.Wq, l.Wk, l.Wv, l.Wo, l.WGate, l.WUp, l.WDown }), w.Output];

    private static float[] Logits(Qwen2Model model, int threads) => RepackedWeightsTests.Logits(model, threads);

    private static void AssertSameBits(float[] expected, float[] got, string what) =>
        RepackedWeightsTests.AssertSameBits(expected, got, what, "the file's places");

    public static TheoryData<string> Models => new() { "small q4_0", "tied q8_0", "tied q6_k", "tied q4_k", "f16", "tiny f32" };

    private static string PathOf(string kind) => kind switch
    {
        "small q4_0" => SyntheticModels.SmallQ4_0,
        "tied q8_0" => SyntheticModels.SmallTiedQ8_0,
        "tied q6_k" => SyntheticModels.SmallTiedQ6_K,
        "tied q4_k" => SyntheticModels.SmallTiedQ4_K,
        "f16" => SyntheticModels.SmallF16,
        _ => SyntheticModels.TinyF32,
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void LaidOutWeightsGiveTheSameLogitsBitForBitAtAnyThreadCount(string kind)
    {
        string path = PathOf(kind);
        using var placed = Load(path, 1);
        using var laid = Load(path, 2);
        Assert.All(Matrices(placed.Weights), m => Assert.Null(m.Slices));
        Assert.All(Matrices(laid.Weights), m =>
        {
            Assert.NotNull(m.Slices);
            Assert.Equal(2, m.Slices!.Count);
        });
        var expected = Logits(placed, 2);
        foreach (int threads in new[] { 1, 2, 3 })
            AssertSameBits(expected, Logits(laid, threads), $"laid out for 2, run on {threads}");
        AssertSameBits(expected, Logits(placed, 3), "the file's places on 3 threads");
    }

    [Fact]
    public unsafe void EachThreadsSlicesLieEndToEndInTheOrderADecodeStepReadsThem()
    {
        using var model = Load(SyntheticModels.SmallQ4_0, 2);
        var c = model.Config;
        var layer = model.Weights.Layers[0];
        // q, k and v by whole KV heads (the decode attention job's slots), the others by 16-row slices
        int half = c.KvHeadCount / 2;
        Assert.Equal([0, half * c.HeadsPerKvHead * c.HeadDim, layer.Wq.Rows], Edges(layer.Wq));
        Assert.Equal([0, half * c.HeadDim, layer.Wk.Rows], Edges(layer.Wk));
        Assert.Equal([0, ComputeJob.Slice(layer.WGate.Rows, 0, 2, 16).End, layer.WGate.Rows], Edges(layer.WGate));
        var order = Matrices(model.Weights);
        for (int t = 0; t < 2; t++)
            for (int i = 0; i + 1 < order.Length; i++)
            {
                var (a, b) = (order[i], order[i + 1]);
                byte* end = SliceStart(a, t) + (a.Slices!.End(t) - a.Slices.Start(t)) * a.RowBytes;
                Assert.True(end == SliceStart(b, t), $"thread {t}: {b.Name} does not follow {a.Name}");
            }
        // thread 1's region starts outside thread 0's, which runs from its first slice to the end of its last
        var last = order[^1];
        byte* end0 = SliceStart(last, 0) + (last.Slices!.End(0) - last.Slices.Start(0)) * last.RowBytes;
        byte* start1 = SliceStart(order[0], 1);
        Assert.True(start1 < SliceStart(order[0], 0) || start1 >= end0, "thread 1's slices lie inside thread 0's region");
    }

    private static int[] Edges(WeightMatrix m) => [.. Enumerable.Range(0, m.Slices!.Count).Select(m.Slices.Start), m.Rows];

    private static unsafe byte* SliceStart(WeightMatrix m, int slice) => m.Slices!.Base(slice) + m.Slices.Start(slice) * m.RowBytes;

    [Theory]
    [InlineData("tied q8_0")]
    [InlineData("tied q6_k")]
    public void ATiedEmbeddingsRowsAreLookedUpInTheirSlices(string kind)
    {
        using var placed = Load(PathOf(kind), 1);
        using var laid = Load(PathOf(kind), 2);
        var e = laid.Weights.TokenEmbedding;
        Assert.NotNull(e.Slices);
        var want = new byte[e.RowBytes];
        var got = new byte[e.RowBytes];
        for (int r = 0; r < e.Rows; r++)
        {
            placed.Weights.TokenEmbedding.CopyRow(r, want);
            e.CopyRow(r, got);
            Assert.True(want.AsSpan().SequenceEqual(got), $"row {r}");
        }
    }

    [Fact]
    public unsafe void AKernelCallAcrossASliceEdgeIsSplitThere()
    {
        using var placed = Load(SyntheticModels.SmallQ4_0, 1);
        using var laid = Load(SyntheticModels.SmallQ4_0, 2);
        var (m, p) = (laid.Weights.Layers[1].WGate, placed.Weights.Layers[1].WGate);
        int edge = m.Slices!.End(0), cols = m.Cols;
        var rng = new Random(3);
        var x = Enumerable.Range(0, 2 * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        int rowBytes = (int)VecDot.ActivationRowBytes(m.Type, cols);
        var act = new byte[2 * rowBytes];
        for (int b = 0; b < 2; b++) VecDot.QuantizeActivation(m.Type, x.AsSpan(b * cols, cols), act.AsSpan(b * rowBytes, rowBytes));
        foreach (int batch in new[] { 1, 2 })
        {
            var want = new float[batch * m.Rows];
            var got = new float[batch * m.Rows];
            fixed (byte* a = act)
            fixed (float* w = want, g = got)
            {
                p.MatMulRows(edge - 32, edge + 48, a, batch, w);
                m.MatMulRows(edge - 32, edge + 48, a, batch, g);
            }
            Assert.Equal(want, got);
            Assert.Contains(got, v => v != 0);
        }
    }

    [Fact]
    public unsafe void ASingleEntryMatVecsLateThreadsSliceIsDoneByTheOtherThread()
    {
        using var model = Load(SyntheticModels.SmallQ4_0, 2);
        var w = model.Weights.Layers[0].WDown;
        var rng = new Random(4);
        var x = Enumerable.Range(0, w.Cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var act = new byte[VecDot.ActivationRowBytes(w.Type, w.Cols)];
        VecDot.QuantizeActivation(w.Type, x, act);
        var want = new float[w.Rows];
        var job = new MatMulJob(2);
        fixed (byte* a = act)
        fixed (float* pw = want)
        {
            w.MatMulRows(0, w.Rows, a, 1, pw);
            for (int run = 0; run < 2; run++)   // a second run must not see the first's claims
            {
                var got = new float[w.Rows];
                fixed (float* pg = got)
                {
                    job.Set(w, a, 1, pg);
                    job.BeginRun();
                    job.Execute(run, 2);   // only one thread comes: thread 0, then thread 1
                    job.Execute(1 - run, 2);   // the other comes late: nothing left
                }
                Assert.Equal(want, got);
            }
        }
    }

    [Theory]
    [InlineData("moe")]
    [InlineData("one thread")]
    [InlineData("no repack")]
    public void SomeLoadsKeepTheFilesPlaces(string kind)
    {
        var options = kind switch
        {
            "one thread" => new ModelLoadOptions { DecodeThreads = 1 },
            "no repack" => new ModelLoadOptions { DecodeThreads = 2, RepackWeights = false },
            _ => new ModelLoadOptions { DecodeThreads = 2 },
        };
        using var model = Qwen2Model.Load(kind == "moe" ? SyntheticModels.SmallMoeQ4_0 : SyntheticModels.SmallQ4_0, options);
        Assert.Null(model.Weights.Output.Slices);
        Assert.All(model.Weights.Layers, l => Assert.Null(l.Wq.Slices));
    }

    /// <summary>The moved matrices' old pages leave the process (madvise DONTNEED), read from /proc/self/pagemap's
    /// present bit, which needs no privilege; with the file's places, the same pages stay present.</summary>
    [Fact]
    public unsafe void TheMovedMatricesOldPagesAreGivenBack()
    {
        if (!OperatingSystem.IsLinux()) return;
        string path = SyntheticModels.SmallF16;   // F16 matrices are private copies either way (WeightRepacker.CopyPays)
        using var laid = Load(path, 2);
        using var placed = Load(path, 1);
        _ = Logits(laid, 2);
        _ = Logits(placed, 2);
        string head = laid.Weights.TiedOutput ? "token_embd.weight" : "output.weight";
        foreach (string name in new[] { "blk.1.ffn_gate.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight", head })
        {
            var tensor = laid.Source.GetTensor(name);
            long bytes = tensor.ByteSize;
            var (present, pages) = PresentPages((nint)laid.Source.GetTensorData(tensor), bytes);
            var (placedPresent, placedPages) = PresentPages((nint)placed.Source.GetTensorData(placed.Source.GetTensor(name)), bytes);
            Assert.True(pages > 0, $"{name}: no whole page");
            Assert.Equal(0, present);
            Assert.Equal(placedPages, placedPresent);
        }
    }

    /// <summary>Of the whole 4 KiB pages inside [start, start + bytes): how many are present, and how many there are.</summary>
    private static (int Present, int Pages) PresentPages(nint start, long bytes)
    {
        const long Page = 4096;
        long first = ((long)start + Page - 1) / Page, end = ((long)start + bytes) / Page;
        using var pagemap = File.OpenRead("/proc/self/pagemap");
        var entry = new byte[8];
        int present = 0;
        for (long page = first; page < end; page++)
        {
            pagemap.Position = page * 8;
            pagemap.ReadExactly(entry);
            if ((BitConverter.ToUInt64(entry) >> 63) != 0) present++;
        }
        return (present, (int)Math.Max(0, end - first));
    }
}

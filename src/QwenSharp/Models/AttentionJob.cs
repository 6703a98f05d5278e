using System.Numerics.Tensors;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Attention;

namespace QwenSharp.Models;

/// <summary>Causal attention for every (entry, head) pair of a chunk, in fp32: scores = q·k/sqrt(d) over the entry's
/// cached positions 0..pos, softmax, weighted sum of values. Query head i reads KV head i / (heads per KV head).
///
/// Entries are grouped into runs (consecutive entries of one sequence at consecutive positions: a prompt, or one
/// decode step). A run is split into work items of up to 16 rows (queries × heads sharing one KV head) for
/// <see cref="BlockAttention"/>, which converts that KV head's F16 keys and values to fp32 once per thread and item
/// chain instead of once per (query, key). Items of at most <see cref="SingleRowMax"/> rows (decode steps: one row per
/// query head at 0.5B's MHA, which left 15 of BlockAttention's 16 lanes idle) run row by row through
/// <see cref="SingleRowAttention"/>, which reads the cache in place and gives the same bits as BlockAttention's lane,
/// so a prompt's rows and the same tokens decoded one by one give bit-identical outputs. Threads take items from a
/// shared counter, largest first, so the causal triangle's uneven items balance.</summary>
internal sealed unsafe class AttentionJob : ComputeJob
{
    private const int Lanes = BlockAttention.Lanes;

    private readonly ThreadScratch[] _scratch;
    private Qwen2Context _ctx = null!;
    private int _layer;
    private BatchEntry[] _entries = [];
    private int _count;

    // Work items of this call: A = run, B = KV head, C = row group.
    private readonly WorkItem[] _items;
    private int _itemCount, _next, _call;
    private readonly int[] _runStart, _runLength;

    private struct WorkItem { public int A, B, C; }

    /// <summary>One thread's block buffers, sized for the context at construction (no allocation per call), and which
    /// keys/values are already converted in them.</summary>
    private sealed class ThreadScratch
    {
        public readonly float[] Keys, Values, Scores, QT, OutT;
        public readonly int[] LastKey = new int[Lanes];
        public int Call = -1, Run, KvHead, Converted;
        public ThreadScratch(int contextLength, int headDim, bool f16)
        {
            Keys = f16 ? new float[(long)contextLength * headDim] : [];
            Values = f16 ? new float[(long)contextLength * headDim] : [];
            Scores = new float[(long)contextLength * Lanes];
            QT = new float[headDim * Lanes];
            OutT = new float[headDim * Lanes];
        }
    }

    public AttentionJob(int threads, int contextLength, int headDim, int maxBatch, int heads, int kvHeads, bool f16Cache)
    {
        _scratch = new ThreadScratch[threads];
        for (int t = 0; t < threads; t++) _scratch[t] = new ThreadScratch(contextLength, headDim, f16Cache);
        // A run of L entries has ceil(L·group/16) row groups per KV head: at most L·heads/16 + 1 each.
        _items = new WorkItem[(long)maxBatch * heads / Lanes + (long)maxBatch * kvHeads];
        _runStart = new int[maxBatch];
        _runLength = new int[maxBatch];
    }

    public void Set(Qwen2Context ctx, int layer, ReadOnlySpan<BatchEntry> batch)
    {
        _ctx = ctx;
        _layer = layer;
        if (_entries.Length < batch.Length) _entries = new BatchEntry[ctx.MaxBatch];
        batch.CopyTo(_entries);
        _count = batch.Length;
        _call++;
        _next = 0;
        PlanItems(ctx.Model.Config);
    }

    private void PlanItems(Qwen2Config c)
    {
        int runs = 0;
        for (int b = 0; b < _count; b++)
        {
            if (b > 0 && _entries[b].Sequence == _entries[b - 1].Sequence && _entries[b].Position == _entries[b - 1].Position + 1)
                _runLength[runs - 1]++;
            else
            {
                _runStart[runs] = b;
                _runLength[runs] = 1;
                runs++;
            }
        }
        int group = c.HeadsPerKvHead, n = 0;
        for (int run = 0; run < runs; run++)
        {
            // KV head major, then row groups from the last (most keys) down: a thread that takes consecutive
            // items of one KV head finds its keys already converted.
            int groups = (_runLength[run] * group + Lanes - 1) / Lanes;
            for (int g = 0; g < c.KvHeadCount; g++)
                for (int rg = groups - 1; rg >= 0; rg--)
                    _items[n++] = new WorkItem { A = run, B = g, C = rg };
        }
        _itemCount = n;
    }

    /// <summary>Items with at most this many rows (decode steps at MHA have one) run each row through
    /// <see cref="SingleRowAttention"/>, which reads the cache in place and gives the same bits as BlockAttention's
    /// lane. Measured (8 decode steps × 16 heads, d 64, F16, 128 and 512 keys, one thread): rows sharing a KV head
    /// one by one beat a block run at 2, 3 and 4 rows (0.52 vs 0.89 ms, 2.6 vs 4.1 ms at 4), lose at 8.</summary>
    internal const int SingleRowMax = 4;

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        while (true)
        {
            int i = Interlocked.Increment(ref _next) - 1;
            if (i >= _itemCount) return;
            var item = _items[i];
            // the item this thread most likely takes next (threads claim in turn), for SingleRows to prefetch
            int next = i + threadCount;
            Block(threadIndex, item.A, item.B, item.C, next < _itemCount ? next : -1);
        }
    }

    private void Block(int threadIndex, int run, int kvHead, int rowGroup, int nextItem)
    {
        var c = _ctx.Model.Config;
        int d = c.HeadDim, group = c.HeadsPerKvHead;
        int b0 = _runStart[run], rows = _runLength[run] * group;
        int rowStart = rowGroup * Lanes, rowEnd = Math.Min(rows, rowStart + Lanes);
        var first = _entries[b0];
        int keyCount = first.Position + (rowEnd - 1) / group + 1;
        var s = _scratch[threadIndex];
        var cache = _ctx.Cache;
        if (rowEnd - rowStart <= SingleRowMax)
        {
            SingleRows(s, b0, kvHead, rowStart, rowEnd, nextItem);
            return;
        }

        // Keys and values as fp32 rows: the F32 cache is read in place; F16 rows are converted once per thread for
        // this run and KV head, extended only when an item needs more keys than an earlier one.
        float* keys, values;
        int stride;
        bool f16 = cache.Type == KvCacheType.F16;
        if (f16)
        {
            bool same = s.Call == _call && s.Run == run && s.KvHead == kvHead;
            int from = same ? Math.Min(s.Converted, keyCount) : 0;
            // a head's positions are contiguous in the cache: one conversion per call
            var keyHalves = (Half*)cache.KeyHead(_layer, first.Sequence, kvHead);
            var valueHalves = (Half*)cache.ValueHead(_layer, first.Sequence, kvHead);
            int count = (keyCount - from) * d;   // from ≤ keyCount
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(keyHalves + (long)from * d, count), s.Keys.AsSpan(from * d, count));
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(valueHalves + (long)from * d, count), s.Values.AsSpan(from * d, count));
            s.Call = _call; s.Run = run; s.KvHead = kvHead; s.Converted = keyCount;
            stride = d;
        }
        else
            stride = d;

        fixed (float* qT = s.QT, outT = s.OutT, scores = s.Scores, kf = s.Keys, vf = s.Values)
        fixed (int* lastKey = s.LastKey)
        {
            if (f16) { keys = kf; values = vf; }
            else
            {
                keys = (float*)cache.KeyHead(_layer, first.Sequence, kvHead);
                values = (float*)cache.ValueHead(_layer, first.Sequence, kvHead);
            }
            new Span<float>(qT, d * Lanes).Clear();
            for (int lane = 0; lane < Lanes; lane++)
            {
                int r = rowStart + lane;
                if (r >= rowEnd) { lastKey[lane] = keyCount - 1; continue; }
                int b = b0 + r / group, head = kvHead * group + r % group;
                float* q = _ctx.QueryRow(b) + head * d;
                for (int j = 0; j < d; j++) qT[j * Lanes + lane] = q[j];
                lastKey[lane] = _entries[b].Position;
            }
            BlockAttention.Run(d, qT, keys, values, stride, keyCount, lastKey, 1f / MathF.Sqrt(d), scores, outT);
            for (int r = rowStart; r < rowEnd; r++)
            {
                int lane = r - rowStart, b = b0 + r / group, head = kvHead * group + r % group;
                float* o = _ctx.AttentionRow(b) + head * d;
                for (int j = 0; j < d; j++) o[j] = outT[j * Lanes + lane];
            }
        }
    }

    private void SingleRows(ThreadScratch s, int b0, int kvHead, int rowStart, int rowEnd, int nextItem)
    {
        var c = _ctx.Model.Config;
        int d = c.HeadDim, group = c.HeadsPerKvHead, sequence = _entries[b0].Sequence;
        var cache = _ctx.Cache;
        float scale = 1f / MathF.Sqrt(d);
        // The keys and values of the next item's KV head (rows d apart in the cache), prefetched while the last row
        // here runs (SingleRowAttention.Run's decode overload): a decode step reads every head cold from DRAM.
        byte* nextKeys = null, nextValues = null;
        int nextCount = 0;
        if (nextItem >= 0)
        {
            var next = _items[nextItem];
            int nb0 = _runStart[next.A];
            nextKeys = cache.KeyHead(_layer, _entries[nb0].Sequence, next.B);
            nextValues = cache.ValueHead(_layer, _entries[nb0].Sequence, next.B);
            nextCount = _entries[nb0].Position + _runLength[next.A];
        }
        fixed (float* scores = s.Scores)
            for (int r = rowStart; r < rowEnd; r++)
            {
                int b = b0 + r / group, head = kvHead * group + r % group, keyCount = _entries[b].Position + 1;
                float* q = _ctx.QueryRow(b) + head * d, o = _ctx.AttentionRow(b) + head * d;
                byte* keys = cache.KeyHead(_layer, sequence, kvHead), values = cache.ValueHead(_layer, sequence, kvHead);
                int prefetchRows = r == rowEnd - 1 ? nextCount : 0;   // rows before the last share this head's keys
                AttendCached(cache.Type, d, q, keys, values, keyCount, scale, scores, o, nextKeys, nextValues, prefetchRows,
                             cache.RowsFinite(_layer, sequence, kvHead));
            }
    }

    /// <summary>One query row over a KV head's cached rows (d apart) in the cache's element type, prefetching
    /// <paramref name="nextCount"/> rows of the next head's keys and values as it goes
    /// (<see cref="SingleRowAttention"/>); rowsFinite: the cache's word that the head's fp16 rows hold no infinity or
    /// NaN (<see cref="KvCache.RowsFinite"/>), which spares the kernel its scan of them.</summary>
    internal static void AttendCached(KvCacheType type, int d, float* q, byte* keys, byte* values, int keyCount, float scale,
                                      float* scores, float* output, byte* nextKeys, byte* nextValues, int nextCount, bool rowsFinite)
    {
        if (type == KvCacheType.F16)
            SingleRowAttention.Run(d, q, (Half*)keys, (Half*)values, d, keyCount, scale, scores, output,
                                   (Half*)nextKeys, (Half*)nextValues, nextCount, rowsFinite);
        else
            SingleRowAttention.Run(d, q, (float*)keys, (float*)values, d, keyCount, scale, scores, output,
                                   (float*)nextKeys, (float*)nextValues, nextCount);
    }

    /// <summary>Thread <paramref name="thread"/>'s scores scratch (context length × 16 floats), for the one-job
    /// decode block (<see cref="DecodeAttentionJob"/>), which never runs at the same time as this job.</summary>
    internal float[] Scores(int thread) => _scratch[thread].Scores;
}

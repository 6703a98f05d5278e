using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Attention;

/// <summary>Causal softmax attention for ONE row (one query of one head) with the head dimension in the vector
/// lanes: the decode fast path. <see cref="BlockAttention"/> puts 16 rows in the lanes, so a decode step at MHA
/// (one row per KV head) used 1 of 16 lanes, ~128 vector FMAs per (head, key); here it is ~d/16 per dot product
/// and per weighted sum. Keys and values are read in place, as fp32 or as fp16 converted 16 at a time (exactly; when
/// the call's rows hold no infinity or NaN, always in practice, by 4 operations, see <see cref="HalfRows"/>), so no
/// row is copied into scratch, and prefetched a few rows ahead. Scores are made 16 keys at a time where d is a
/// multiple of 64, their lane sums reduced side by side (<see cref="IRowLanes{TSelf}.SumLanes16"/>).
///
/// The outputs are BIT-IDENTICAL to BlockAttention's lane for the same row on the same rung (so a prompt's rows and
/// the same tokens decoded one by one still agree): each dot product sums in ggml's AVX-512 order as
/// BlockAttention.Scores does per lane (four 16-lane accumulators over steps of 64, (0+2)+(1+3), the 16 → 1 tree,
/// the tail one by one), then ·scale; softmax with the same vector exp, the sum in double in key order, the
/// (float)(1/sum) factor applied before the weighted sum, and every output element a fused multiply-add chain over
/// the keys in ascending order. Keys past the row's last key do not enter at all: in BlockAttention they get
/// probability 0 and add nothing (assuming finite values).</summary>
internal static unsafe class SingleRowAttention
{
    private const int Lanes = BlockAttention.Lanes;

    /// <summary>Rows ahead to prefetch. In MHA decode nothing is reused: every row comes from L3 or memory. The
    /// KvCache keeps a head's rows contiguous (stride d), so this mostly covers the start of each pass; callers with
    /// rows a whole KV row apart (2 KiB at 0.5B, a new page every two rows) depend on it.</summary>
    internal static int PrefetchRows = 8;

    /// <summary>Floats of scratch one row's scores need: keyCount rounded up to 16.</summary>
    public static int ScoresLength(int keyCount) => (keyCount + Lanes - 1) & ~(Lanes - 1);

    /// <summary>q: d floats. keys, values: keyCount rows of d floats, <paramref name="stride"/> floats apart; the row
    /// attends to all of them. scores: scratch of <see cref="ScoresLength"/> floats. output: d floats.</summary>
    public static void Run(int d, float* q, float* keys, float* values, int stride, int keyCount, float scale,
                           float* scores, float* output) =>
        Run(d, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    /// <summary>As the fp32 overload, with the keys and values in fp16 (<paramref name="stride"/> halves apart).</summary>
    public static void Run(int d, float* q, Half* keys, Half* values, int stride, int keyCount, float scale,
                           float* scores, float* output) =>
        Run(d, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    /// <summary>As the other overloads, on the best rung; while it works it also prefetches, spread over its key
    /// loops, <paramref name="nextCount"/> rows of the keys and of the values (d apart) of the head the caller runs
    /// next: a key row per key during the scores, a value row per key during the weighted sum. A decode step reads every head's
    /// keys and values cold from DRAM (they were last touched a token ago); measured on the AMD EPYC, one row, d 64,
    /// 64 F16 keys, one thread, heads apart as in the cache: 1.20-1.40 µs cold, 0.58-0.62 hot, 0.72-0.75 with the next
    /// head prefetched so. The same prefetches issued as one burst before the call helped little (0.96-1.26 µs): the
    /// line-fill buffers fill and the rest are dropped. <paramref name="rowsFinite"/>: the caller knows every fp16
    /// key and value row holds no infinity or NaN (the KV cache notes those as it stores them,
    /// <c>KvCache.RowsFinite</c>), so the call skips its own scan of them, an extra pass over the head's history;
    /// false scans (the result is the same either way, only the cost differs).</summary>
    internal static void Run<T>(int d, float* q, T* keys, T* values, int stride, int keyCount, float scale,
                                float* scores, float* output, T* nextKeys, T* nextValues, int nextCount, bool rowsFinite = false) where T : unmanaged =>
        Run(d, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best, nextKeys, nextValues, nextCount, rowsFinite);

    // The rung choice mirrors BlockAttention.Run's, so both kernels use the same exp and fused multiply-add.
    internal static void Run<T>(int d, float* q, T* keys, T* values, int stride, int keyCount, float scale,
                                float* scores, float* output, KernelPath path, T* nextKeys = null, T* nextValues = null, int nextCount = 0,
                                bool rowsFinite = false) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(Half))
            throw new NotSupportedException($"attention over {typeof(T).Name} keys");
        switch (path)
        {
            case KernelPath.Vector512 when Vector512.IsHardwareAccelerated:
                Run<Lanes512, T>(d, q, keys, values, stride, keyCount, scale, scores, output, nextKeys, nextValues, nextCount, rowsFinite); break;
            case KernelPath.Vector256Avx2 or KernelPath.Vector256AvxVnni or KernelPath.Vector512 when Vector256.IsHardwareAccelerated:
                Run<Lanes256, T>(d, q, keys, values, stride, keyCount, scale, scores, output, nextKeys, nextValues, nextCount, rowsFinite); break;
            case KernelPath.Scalar:
                Run<LanesScalar, T>(d, q, keys, values, stride, keyCount, scale, scores, output, nextKeys, nextValues, nextCount, rowsFinite); break;
            default:
                if (Vector128.IsHardwareAccelerated) Run<Lanes128, T>(d, q, keys, values, stride, keyCount, scale, scores, output, nextKeys, nextValues, nextCount, rowsFinite);
                else Run<LanesScalar, T>(d, q, keys, values, stride, keyCount, scale, scores, output, nextKeys, nextValues, nextCount, rowsFinite);
                break;
        }
    }

    private static void Run<L, T>(int d, float* q, T* keys, T* values, int stride, int keyCount, float scale,
                                  float* scores, float* output, T* nextKeys, T* nextValues, int nextCount, bool rowsFinite) where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        nextCount = Math.Min(nextCount, keyCount);
        Scores<L, T>(d, q, keys, stride, keyCount, scale, scores, nextKeys, nextCount, rowsFinite);
        Softmax<L>(keyCount, scores);
        WeightedValues<L, T>(d, scores, values, stride, keyCount, output, nextValues, nextCount, rowsFinite);
    }

    // Whether every key (or value) row the call reads is finite, so that LoadHalfFinite converts it (HalfRows); the
    // flag is a type argument, so each variant of the inner loops is compiled without a test. Float rows ignore it.
    private interface IFlag { static abstract bool On { get; } }
    private struct Finite : IFlag { public static bool On => true; }
    private struct General : IFlag { public static bool On => false; }

    /// <summary>Whether the keyCount rows of d halves at p (<paramref name="stride"/> apart) hold no infinity or NaN:
    /// <paramref name="known"/> (the caller's word, from the KV cache), or one pass over the rows, checked once per
    /// call rather than per row (per row the check cost about as much as the conversion it saved).</summary>
    private static bool AllFinite<T>(T* p, int d, int stride, int keyCount, bool known) where T : unmanaged
    {
        if (typeof(T) != typeof(Half)) return false;
        if (known) return true;
        if (stride == d) return HalfRows.AllFinite((ushort*)p, keyCount * d);
        for (int t = 0; t < keyCount; t++)
            if (!HalfRows.AllFinite((ushort*)p + (long)t * stride, d)) return false;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static L Load<L, T, N>(T* p) where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag =>
        typeof(T) != typeof(Half) ? L.Load((float*)p) : N.On ? L.LoadHalfFinite((Half*)p) : L.LoadHalf((Half*)p);

    private static float LoadOne<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(Half) ? Fp16.ToSingle(*(ushort*)p) : *(float*)p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(void* p, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int b = 0; b < bytes; b += 64) Sse.Prefetch0((byte*)p + b);
    }

    /// <summary>also: alsoCount rows d apart to prefetch, one per key, or null.</summary>
    private static void Scores<L, T>(int d, float* q, T* keys, int stride, int keyCount, float scale, float* scores, T* also, int alsoCount, bool rowsFinite)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        if (also == null) alsoCount = 0;
        if (AllFinite(keys, d, stride, keyCount, rowsFinite)) ScoresOf<L, T, Finite>(d, q, keys, stride, keyCount, scale, scores, also, alsoCount);
        else ScoresOf<L, T, General>(d, q, keys, stride, keyCount, scale, scores, also, alsoCount);
    }

    /// <summary>Keys sixteen at a time (each one's lanes summed by <see cref="IRowLanes{TSelf}.SumLanes16"/>, the
    /// same tree per key, shuffled across keys instead of reduced one key after another), the rest one by one.</summary>
    [SkipLocalsInit]
    private static void ScoresOf<L, T, N>(int d, float* q, T* keys, int stride, int keyCount, float scale, float* scores, T* also, int alsoCount)
        where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag
    {
        int ahead = PrefetchRows, t = 0;
        if (d % 64 == 0)
        {
            L* partial = stackalloc L[Lanes];
            var scaleLanes = L.Splat(scale);
            for (; t + Lanes <= keyCount; t += Lanes)
            {
                for (int r = 0; r < Lanes; r++)
                {
                    T* k = keys + (long)(t + r) * stride;
                    if (t + r + ahead < keyCount) Prefetch(k + (long)ahead * stride, d * sizeof(T));
                    if (t + r < alsoCount) Prefetch(also + (long)(t + r) * d, d * sizeof(T));
                    partial[r] = Partial<L, T, N>(d, q, k);
                }
                L.SumLanes16(partial, scores + t);
                L.Store(L.Mul(L.Load(scores + t), scaleLanes), scores + t);
            }
        }
        for (; t < keyCount; t++)
        {
            T* k = keys + (long)t * stride;
            if (t + ahead < keyCount) Prefetch(k + (long)ahead * stride, d * sizeof(T));
            if (t < alsoCount) Prefetch(also + (long)t * d, d * sizeof(T));
            scores[t] = Dot<L, T, N>(d, q, k) * scale;
        }
    }

    /// <summary>q·k's four 16-lane accumulators over the first <paramref name="d"/> elements (a multiple of 64) in
    /// steps of 64, added (0 + 2) + (1 + 3): the vector that <see cref="Dot"/> sums across lanes before its tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static L Partial<L, T, N>(int d, float* q, T* k) where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag
    {
        L c0 = default, c1 = default, c2 = default, c3 = default;
        for (int j = 0; j < d; j += 64)
        {
            c0 = L.MulAdd(L.Load(q + j), Load<L, T, N>(k + j), c0);
            c1 = L.MulAdd(L.Load(q + j + 16), Load<L, T, N>(k + j + 16), c1);
            c2 = L.MulAdd(L.Load(q + j + 32), Load<L, T, N>(k + j + 32), c2);
            c3 = L.MulAdd(L.Load(q + j + 48), Load<L, T, N>(k + j + 48), c3);
        }
        return L.Add(L.Add(c0, c2), L.Add(c1, c3));
    }

    /// <summary>q·k in BlockAttention.Scores' per-lane order (see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<L, T, N>(int d, float* q, T* k) where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag
    {
        int steps = d / 64 * 64;
        float sum = L.SumLanes(Partial<L, T, N>(steps, q, k));
        for (int j = steps; j < d; j++) sum = L.MulAddOne(q[j], LoadOne(k + j), sum);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate4<L, T, N>(L w, T* v, ref L a0, ref L a1, ref L a2, ref L a3)
        where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag
    {
        a0 = L.MulAdd(w, Load<L, T, N>(v), a0);
        a1 = L.MulAdd(w, Load<L, T, N>(v + 16), a1);
        a2 = L.MulAdd(w, Load<L, T, N>(v + 32), a2);
        a3 = L.MulAdd(w, Load<L, T, N>(v + 48), a3);
    }

    /// <summary>scores[0..keyCount) become probabilities. The max and exp run 16 keys at a time (past keyCount the
    /// scratch is padded with −∞, whose exp is 0 and is never summed); the sum is in double, key by key.</summary>
    private static void Softmax<L>(int keyCount, float* scores) where L : unmanaged, IRowLanes<L>
    {
        int padded = ScoresLength(keyCount);
        for (int t = keyCount; t < padded; t++) scores[t] = float.NegativeInfinity;
        var maxLanes = L.Splat(float.NegativeInfinity);
        for (int t = 0; t < padded; t += Lanes) maxLanes = L.Max(maxLanes, L.Load(scores + t));
        float* lane = stackalloc float[Lanes];
        L.Store(maxLanes, lane);
        float max = lane[0];
        for (int i = 1; i < Lanes; i++) max = MathF.Max(max, lane[i]);

        var m = L.Splat(max);
        for (int t = 0; t < padded; t += Lanes) L.Store(L.Exp(L.Sub(L.Load(scores + t), m)), scores + t);
        // A loop of its own: beside the exp (a call) the JIT kept the sum in memory, a store and a load in every
        // step of this serial chain.
        double sum = 0;
        for (int i = 0; i < keyCount; i++) sum += scores[i];
        var inv = L.Splat((float)(1.0 / sum));
        for (int t = 0; t < padded; t += Lanes) L.Store(L.Mul(L.Load(scores + t), inv), scores + t);
    }

    /// <summary>output[j] = Σ_t p[t] · values[t][j], t ascending: 128 columns (eight accumulators) per pass over the
    /// keys, then 64 (four), then 16, then the last d mod 16 columns one at a time. Each accumulator is a chain of one
    /// fused multiply-add per key, so a pass costs at least that latency per key whatever its width: one pass of 128
    /// columns, not two of 64 (d = 128 at every Qwen1.5 size above 0.5B). also: alsoCount rows d apart to prefetch, one
    /// per key of the first pass (0 or a null also: none).</summary>
    private static void WeightedValues<L, T>(int d, float* p, T* values, int stride, int keyCount, float* output, T* also, int alsoCount, bool rowsFinite)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        if (AllFinite(values, d, stride, keyCount, rowsFinite)) ValuesOf<L, T, Finite>(d, p, values, stride, keyCount, output, also, alsoCount);
        else ValuesOf<L, T, General>(d, p, values, stride, keyCount, output, also, alsoCount);
    }

    private static void ValuesOf<L, T, N>(int d, float* p, T* values, int stride, int keyCount, float* output, T* also, int alsoCount)
        where L : unmanaged, IRowLanes<L> where T : unmanaged where N : struct, IFlag
    {
        int j = 0, ahead = PrefetchRows;
        if (also == null) alsoCount = 0;
        for (; j + 128 <= d; j += 128)
        {
            L a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            T* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride)
            {
                if (t + ahead < keyCount) Prefetch(v + (long)ahead * stride, 128 * sizeof(T));
                if (t < alsoCount) Prefetch(also + (long)t * d, d * sizeof(T));
                var w = L.Splat(p[t]);
                Accumulate4<L, T, N>(w, v, ref a0, ref a1, ref a2, ref a3);
                Accumulate4<L, T, N>(w, v + 64, ref a4, ref a5, ref a6, ref a7);
            }
            L.Store(a0, output + j); L.Store(a1, output + j + 16); L.Store(a2, output + j + 32); L.Store(a3, output + j + 48);
            L.Store(a4, output + j + 64); L.Store(a5, output + j + 80); L.Store(a6, output + j + 96); L.Store(a7, output + j + 112);
            alsoCount = 0;
        }
        for (; j + 64 <= d; j += 64)
        {
            L a0 = default, a1 = default, a2 = default, a3 = default;
            T* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride)
            {
                if (t + ahead < keyCount) Prefetch(v + (long)ahead * stride, 64 * sizeof(T));
                if (t < alsoCount) Prefetch(also + (long)t * d, d * sizeof(T));
                Accumulate4<L, T, N>(L.Splat(p[t]), v, ref a0, ref a1, ref a2, ref a3);
            }
            L.Store(a0, output + j); L.Store(a1, output + j + 16); L.Store(a2, output + j + 32); L.Store(a3, output + j + 48);
            alsoCount = 0;
        }
        for (; j + Lanes <= d; j += Lanes)
        {
            L a = default;
            T* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride) a = L.MulAdd(L.Splat(p[t]), Load<L, T, N>(v), a);
            L.Store(a, output + j);
        }
        for (; j < d; j++)
        {
            float a = 0;
            T* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride) a = L.MulAddOne(p[t], LoadOne(v), a);
            output[j] = a;
        }
    }
}

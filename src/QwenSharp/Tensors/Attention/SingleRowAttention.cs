using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Attention;

/// <summary>Causal softmax attention for ONE row (one query of one head) with the head dimension in the vector
/// lanes: the decode fast path. <see cref="BlockAttention"/> puts 16 rows in the lanes, so a decode step at MHA
/// (one row per KV head) used 1 of 16 lanes, ~128 vector FMAs per (head, key); here it is ~d/16 per dot product
/// and per weighted sum. Keys and values are read in place, as fp32 or as fp16 converted 16 at a time (exactly), so
/// no row is copied into scratch.
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

    /// <summary>Rows ahead to prefetch. A head's cache rows are a whole KV row apart (2 KiB at 0.5B), so each row is
    /// a new pair of lines in a new half page, which the hardware prefetchers do not run ahead of; in MHA decode
    /// nothing is reused, every row comes from L3 or memory.</summary>
    internal static int PrefetchRows = 8;

    /// <summary>Floats of scratch one row's scores need: keyCount rounded up to 16.</summary>
    public static int ScoresLength(int keyCount) => (keyCount + Lanes - 1) & ~(Lanes - 1);

    /// <summary>q: d floats. keys, values: keyCount rows of d floats, <paramref name="stride"/> floats apart; the row
    /// attends to all of them. scores: scratch of <see cref="ScoresLength"/> floats. output: d floats.</summary>
    public static void Run(int d, float* q, float* keys, float* values, int stride, int keyCount, float scale,
                           float* scores, float* output) =>
        Run(d, 1, 1, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    /// <summary>As the fp32 overload, with the keys and values in fp16 (<paramref name="stride"/> halves apart).</summary>
    public static void Run(int d, float* q, Half* keys, Half* values, int stride, int keyCount, float scale,
                           float* scores, float* output) =>
        Run(d, 1, 1, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    /// <summary>One row for each of <paramref name="heads"/> consecutive query heads of one position (a decode step):
    /// q and output hold heads × d floats, head h reads the KV head h / <paramref name="group"/> (offset
    /// (h / group)·d in each key and value row), all heads attend to the same keyCount keys. The cache rows are
    /// walked once, in order, for all heads together: a head's rows alone are a whole KV row apart, a stride that
    /// keeps them in a few cache sets and out of the hardware prefetchers' reach. scores: scratch of
    /// heads × <see cref="ScoresLength"/> floats. Each head's output has the bits of <see cref="Run(int, float*,
    /// Half*, Half*, int, int, float, float*, float*)"/> for that head.</summary>
    public static void RunHeads(int d, int heads, int group, float* q, Half* keys, Half* values, int stride, int keyCount,
                                float scale, float* scores, float* output) =>
        Run(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    /// <summary>As the fp16 overload, with fp32 keys and values.</summary>
    public static void RunHeads(int d, int heads, int group, float* q, float* keys, float* values, int stride, int keyCount,
                                float scale, float* scores, float* output) =>
        Run(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output, KernelPaths.Best);

    // The rung choice mirrors BlockAttention.Run's, so both kernels use the same exp and fused multiply-add.
    internal static void Run<T>(int d, int heads, int group, float* q, T* keys, T* values, int stride, int keyCount,
                                float scale, float* scores, float* output, KernelPath path) where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(Half))
            throw new NotSupportedException($"attention over {typeof(T).Name} keys");
        switch (path)
        {
            case KernelPath.Vector512 when Vector512.IsHardwareAccelerated:
                Run<Lanes512, T>(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output); break;
            case KernelPath.Vector256Avx2 or KernelPath.Vector256AvxVnni or KernelPath.Vector512 when Vector256.IsHardwareAccelerated:
                Run<Lanes256, T>(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output); break;
            case KernelPath.Scalar:
                Run<LanesScalar, T>(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output); break;
            default:
                if (Vector128.IsHardwareAccelerated) Run<Lanes128, T>(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output);
                else Run<LanesScalar, T>(d, heads, group, q, keys, values, stride, keyCount, scale, scores, output);
                break;
        }
    }

    private static void Run<L, T>(int d, int heads, int group, float* q, T* keys, T* values, int stride, int keyCount,
                                  float scale, float* scores, float* output) where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        if (heads == 1)
        {
            Scores<L, T>(d, q, keys, stride, keyCount, scale, scores);
            Softmax<L>(keyCount, scores);
            WeightedValues<L, T>(d, scores, values, stride, keyCount, output);
            return;
        }
        int scoresStride = ScoresLength(keyCount);
        HeadsScores<L, T>(d, heads, group, q, keys, stride, keyCount, scale, scores, scoresStride);
        for (int h = 0; h < heads; h++) Softmax<L>(keyCount, scores + (long)h * scoresStride);
        HeadsWeightedValues<L, T>(d, heads, group, scores, scoresStride, values, stride, keyCount, output);
    }

    private static L Load<L, T>(T* p) where L : unmanaged, IRowLanes<L> where T : unmanaged =>
        typeof(T) == typeof(Half) ? L.LoadHalf((Half*)p) : L.Load((float*)p);

    private static float LoadOne<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(Half) ? Fp16.ToSingle(*(ushort*)p) : *(float*)p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(void* p, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int b = 0; b < bytes; b += 64) Sse.Prefetch0((byte*)p + b);
    }

    private static void Scores<L, T>(int d, float* q, T* keys, int stride, int keyCount, float scale, float* scores)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        int ahead = PrefetchRows;
        for (int t = 0; t < keyCount; t++)
        {
            T* k = keys + (long)t * stride;
            if (t + ahead < keyCount) Prefetch(k + (long)ahead * stride, d * sizeof(T));
            scores[t] = Dot<L, T>(d, q, k) * scale;
        }
    }

    /// <summary>q·k in BlockAttention.Scores' per-lane order (see the class summary).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<L, T>(int d, float* q, T* k) where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        int steps = d / 64 * 64;
        L c0 = default, c1 = default, c2 = default, c3 = default;
        for (int j = 0; j < steps; j += 64)
        {
            c0 = L.MulAdd(L.Load(q + j), Load<L, T>(k + j), c0);
            c1 = L.MulAdd(L.Load(q + j + 16), Load<L, T>(k + j + 16), c1);
            c2 = L.MulAdd(L.Load(q + j + 32), Load<L, T>(k + j + 32), c2);
            c3 = L.MulAdd(L.Load(q + j + 48), Load<L, T>(k + j + 48), c3);
        }
        float sum = L.SumLanes(L.Add(L.Add(c0, c2), L.Add(c1, c3)));
        for (int j = steps; j < d; j++) sum = L.MulAddOne(q[j], LoadOne(k + j), sum);
        return sum;
    }

    /// <summary>Scores of every head, walking the key rows once in order.</summary>
    private static void HeadsScores<L, T>(int d, int heads, int group, float* q, T* keys, int stride, int keyCount,
                                          float scale, float* scores, int scoresStride)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        for (int t = 0; t < keyCount; t++)
        {
            T* row = keys + (long)t * stride;
            for (int h = 0; h < heads; h++)
                scores[(long)h * scoresStride + t] = Dot<L, T>(d, q + h * d, row + h / group * d) * scale;
        }
    }

    /// <summary>output[h][j] = Σ_t p[h][t] · values[t][h / group][j], t ascending, walking the value rows once in
    /// order; the running sums live in the output (L1-resident: heads × d floats) and start at +0, so each element
    /// gets the same fused multiply-add chain as in <see cref="WeightedValues"/>.</summary>
    private static void HeadsWeightedValues<L, T>(int d, int heads, int group, float* p, int scoresStride, T* values,
                                                  int stride, int keyCount, float* output)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        new Span<float>(output, heads * d).Clear();
        int d16 = d / Lanes * Lanes;
        for (int t = 0; t < keyCount; t++)
        {
            T* row = values + (long)t * stride;
            for (int h = 0; h < heads; h++)
            {
                float w = p[(long)h * scoresStride + t];
                var wv = L.Splat(w);
                T* v = row + h / group * d;
                float* o = output + h * d;
                int j = 0;
                for (; j < d16; j += Lanes) L.Store(L.MulAdd(wv, Load<L, T>(v + j), L.Load(o + j)), o + j);
                for (; j < d; j++) o[j] = L.MulAddOne(w, LoadOne(v + j), o[j]);
            }
        }
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
        double sum = 0;
        for (int t = 0; t < padded; t += Lanes)
        {
            L.Store(L.Exp(L.Sub(L.Load(scores + t), m)), scores + t);
            int end = Math.Min(keyCount, t + Lanes);
            for (int i = t; i < end; i++) sum += scores[i];
        }
        var inv = L.Splat((float)(1.0 / sum));
        for (int t = 0; t < padded; t += Lanes) L.Store(L.Mul(L.Load(scores + t), inv), scores + t);
    }

    /// <summary>output[j] = Σ_t p[t] · values[t][j], t ascending: 64 columns (four accumulators) per pass over the
    /// keys, then 16, then the last d mod 16 columns one at a time.</summary>
    private static void WeightedValues<L, T>(int d, float* p, T* values, int stride, int keyCount, float* output)
        where L : unmanaged, IRowLanes<L> where T : unmanaged
    {
        int j = 0;
        for (; j + 64 <= d; j += 64)
        {
            L a0 = default, a1 = default, a2 = default, a3 = default;
            T* v = values + j;
            int ahead = PrefetchRows, bytes = Math.Min(64, d - j) * sizeof(T);
            for (int t = 0; t < keyCount; t++, v += stride)
            {
                if (t + ahead < keyCount) Prefetch(v + (long)ahead * stride, bytes);
                var w = L.Splat(p[t]);
                a0 = L.MulAdd(w, Load<L, T>(v), a0);
                a1 = L.MulAdd(w, Load<L, T>(v + 16), a1);
                a2 = L.MulAdd(w, Load<L, T>(v + 32), a2);
                a3 = L.MulAdd(w, Load<L, T>(v + 48), a3);
            }
            L.Store(a0, output + j); L.Store(a1, output + j + 16); L.Store(a2, output + j + 32); L.Store(a3, output + j + 48);
        }
        for (; j + Lanes <= d; j += Lanes)
        {
            L a = default;
            T* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride) a = L.MulAdd(L.Splat(p[t]), Load<L, T>(v), a);
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

using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Attention;

/// <summary>Causal softmax attention for up to 16 rows (queries of heads that share one KV head) at once, with the
/// rows in the lanes of a vector: scores S[t] (16 lanes) = Σ_j Qᵀ[j] · K[t][j], softmax down each lane, and
/// Oᵀ[j] = Σ_t P[t] · V[t][j]. Keys and values stay row-major fp32 (each element is broadcast once per 16 rows), so
/// no transpose of the cache is needed; only the 16 queries and outputs are transposed. A prompt's attention is
/// then ~128 fused multiply-adds per (row-block, key) instead of per (row, key) dot products and axpys.</summary>
internal static unsafe class BlockAttention
{
    public const int Lanes = 16;

    /// <summary>qT: [d][16] the rows' queries, transposed (unused lanes zero). keys, values: keyCount rows of d
    /// floats, <paramref name="stride"/> floats apart. lastKey[16]: row r attends to keys 0..lastKey[r] (each
    /// &lt; keyCount). scores: scratch of keyCount·16 floats. outT: [d][16] the rows' outputs, transposed.</summary>
    public static void Run(int d, float* qT, float* keys, float* values, int stride, int keyCount, int* lastKey,
                           float scale, float* scores, float* outT) =>
        Run(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT, KernelPaths.Best);

    internal static void Run(int d, float* qT, float* keys, float* values, int stride, int keyCount, int* lastKey,
                             float scale, float* scores, float* outT, KernelPath path)
    {
        switch (path)
        {
            case KernelPath.Vector512 when Vector512.IsHardwareAccelerated:
                Run<Lanes512>(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT); break;
            case KernelPath.Vector256Avx2 or KernelPath.Vector256AvxVnni or KernelPath.Vector512 when Vector256.IsHardwareAccelerated:
                Run<Lanes256>(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT); break;
            case KernelPath.Scalar:
                Run<LanesScalar>(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT); break;
            default:
                if (Vector128.IsHardwareAccelerated) Run<Lanes128>(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT);
                else Run<LanesScalar>(d, qT, keys, values, stride, keyCount, lastKey, scale, scores, outT);
                break;
        }
    }

    private static void Run<L>(int d, float* qT, float* keys, float* values, int stride, int keyCount, int* lastKey,
                               float scale, float* scores, float* outT) where L : unmanaged, IRowLanes<L>
    {
        Scores<L>(d, qT, keys, stride, keyCount, scale, scores);

        // Causal mask: only keys beyond a row's last key (at most the block's own positions) are touched.
        int firstMasked = keyCount;
        for (int r = 0; r < Lanes; r++) firstMasked = Math.Min(firstMasked, lastKey[r] + 1);
        for (int t = firstMasked; t < keyCount; t++)
            for (int r = 0; r < Lanes; r++)
                if (t > lastKey[r]) scores[t * Lanes + r] = float.NegativeInfinity;

        // Softmax down each lane: max, exp(s - max) in place; the sum in double and the scale (float)(1 / sum), as
        // ggml's softmax does, then the normalised probabilities feed the weighted sum.
        var max = L.Splat(float.NegativeInfinity);
        for (int t = 0; t < keyCount; t++) max = L.Max(max, L.Load(scores + t * Lanes));
        for (int t = 0; t < keyCount; t++) L.Store(L.Exp(L.Sub(L.Load(scores + t * Lanes), max)), scores + t * Lanes);
        double* sum = stackalloc double[Lanes];
        for (int r = 0; r < Lanes; r++) sum[r] = 0;
        for (int t = 0; t < keyCount; t++)
            for (int r = 0; r < Lanes; r++) sum[r] += scores[t * Lanes + r];
        float* invRow = stackalloc float[Lanes];
        for (int r = 0; r < Lanes; r++) invRow[r] = (float)(1.0 / sum[r]);
        var inv = L.Load(invRow);
        for (int t = 0; t < keyCount; t++) L.Store(L.Mul(L.Load(scores + t * Lanes), inv), scores + t * Lanes);

        WeightedValues<L>(d, scores, values, stride, keyCount, outT);
    }

    /// <summary>scores[t] = scale · Σ_j qT[j] · keys[t][j], each lane's sum in the order of ggml's F32 dot product
    /// (ggml_vec_dot_f32 on AVX-512, which llama.cpp uses for K·Q): four 16-lane accumulators over steps of 64
    /// elements, combined (0+2)+(1+3), then reduced 16 → 8 → 4 → 2 → 1 as _mm512_reduce_add_ps does, and the
    /// elements past the last step of 64 added one by one. The order matters only in the last bits, but those bits
    /// can decide a later activation-quantizer rounding, so following llama.cpp keeps the engines closer.</summary>
    private static void Scores<L>(int d, float* qT, float* keys, int stride, int keyCount, float scale, float* scores)
        where L : unmanaged, IRowLanes<L>
    {
        var s = L.Splat(scale);
        int steps = d / 64 * 64;
        L* lane = stackalloc L[16];
        for (int t = 0; t < keyCount; t++)
        {
            float* k = keys + (long)t * stride;
            for (int l = 0; l < 16; l++)
            {
                L c0 = default, c1 = default, c2 = default, c3 = default;
                for (int j = l; j < steps; j += 64)
                {
                    c0 = L.MulAdd(L.Load(qT + j * Lanes), L.Splat(k[j]), c0);
                    c1 = L.MulAdd(L.Load(qT + (j + 16) * Lanes), L.Splat(k[j + 16]), c1);
                    c2 = L.MulAdd(L.Load(qT + (j + 32) * Lanes), L.Splat(k[j + 32]), c2);
                    c3 = L.MulAdd(L.Load(qT + (j + 48) * Lanes), L.Splat(k[j + 48]), c3);
                }
                lane[l] = L.Add(L.Add(c0, c2), L.Add(c1, c3));
            }
            for (int i = 0; i < 8; i++) lane[i] = L.Add(lane[i + 8], lane[i]);
            for (int i = 0; i < 4; i++) lane[i] = L.Add(lane[i + 4], lane[i]);
            var sum = L.Add(L.Add(lane[0], lane[2]), L.Add(lane[1], lane[3]));
            for (int j = steps; j < d; j++) sum = L.MulAdd(L.Load(qT + j * Lanes), L.Splat(k[j]), sum);
            L.Store(L.Mul(sum, s), scores + t * Lanes);
        }
    }

    /// <summary>outT[j] = Σ_t p[t] · values[t][j], eight output columns per pass over the keys.</summary>
    private static void WeightedValues<L>(int d, float* p, float* values, int stride, int keyCount, float* outT)
        where L : unmanaged, IRowLanes<L>
    {
        int j = 0;
        for (; j + 8 <= d; j += 8)
        {
            L a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            float* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride)
            {
                var w = L.Load(p + t * Lanes);
                a0 = L.MulAdd(w, L.Splat(v[0]), a0);
                a1 = L.MulAdd(w, L.Splat(v[1]), a1);
                a2 = L.MulAdd(w, L.Splat(v[2]), a2);
                a3 = L.MulAdd(w, L.Splat(v[3]), a3);
                a4 = L.MulAdd(w, L.Splat(v[4]), a4);
                a5 = L.MulAdd(w, L.Splat(v[5]), a5);
                a6 = L.MulAdd(w, L.Splat(v[6]), a6);
                a7 = L.MulAdd(w, L.Splat(v[7]), a7);
            }
            float* o = outT + j * Lanes;
            L.Store(a0, o); L.Store(a1, o + Lanes); L.Store(a2, o + 2 * Lanes); L.Store(a3, o + 3 * Lanes);
            L.Store(a4, o + 4 * Lanes); L.Store(a5, o + 5 * Lanes); L.Store(a6, o + 6 * Lanes); L.Store(a7, o + 7 * Lanes);
        }
        for (; j < d; j++)
        {
            L a = default;
            float* v = values + j;
            for (int t = 0; t < keyCount; t++, v += stride) a = L.MulAdd(L.Load(p + t * Lanes), L.Splat(*v), a);
            L.Store(a, outT + j * Lanes);
        }
    }
}

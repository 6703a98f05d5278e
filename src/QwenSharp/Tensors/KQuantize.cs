using System.Buffers.Binary;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors;

/// <summary>Float rows to Q4_K and Q6_K super-blocks (256 elements) as llama.cpp's reference quantizers
/// (quantize_row_q4_K_ref / quantize_row_q6_K_ref, used by llama-quantize when no importance matrix is given) write
/// them: per sub-block a weighted search for the scale (and min) that best fits, then the sub-block scales themselves
/// quantized to 6 (Q4_K) or 8 (Q6_K) bits under one fp16 super-scale, and the values re-quantized against the
/// rounded scales. Not a hot path: plain scalar loops in the reference's order of operations.</summary>
public static class KQuantize
{
    private const int QK = 256;

    public static bool CanQuantize(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q6_K;

    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!CanQuantize(type)) throw new QwenSharpException($"KQuantize cannot make {GgmlTypeInfo.Name(type)}");
        if (src.Length % QK != 0) throw new QwenSharpException($"{GgmlTypeInfo.Name(type)} rows must be a multiple of {QK} elements, got {src.Length}");
        int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
        if (dst.Length < src.Length / QK * blockBytes) throw new QwenSharpException("destination too small");
        for (int b = 0; b < src.Length / QK; b++)
        {
            var x = src.Slice(b * QK, QK);
            var block = dst.Slice(b * blockBytes, blockBytes);
            if (type == GgmlType.Q4_K) Q4KBlock(x, block);
            else Q6KBlock(x, block);
        }
    }

    /// <summary>ggml's nearest_int: round half to even (the float magic-number trick), for |v| below 2^22.</summary>
    private static int NearestInt(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary>Q4_K: d, dmin (fp16), scales[12] (eight 6-bit scale / min pairs), qs[128] (two 32-element halves of
    /// each 64 per 32 bytes: low nibble first half, high nibble second).</summary>
    private static void Q4KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> levels = stackalloc byte[QK];
        Span<byte> aux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += xs[l] * xs[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(xs[l]);
            scales[j] = FitScaleAndMin(xs, 15, weights, levels.Slice(32 * j, 32), out mins[j], aux, -1f, 0.1f, 20);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> packed = y.Slice(4, 12);
        packed.Clear();
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
        ushort dHalf = Fp16.FromSingle(maxScale / 63f), dminHalf = Fp16.FromSingle(maxMin / 63f);
        BinaryPrimitives.WriteUInt16LittleEndian(y, dHalf);
        BinaryPrimitives.WriteUInt16LittleEndian(y[2..], dminHalf);
        float dAll = Fp16.ToSingle(dHalf), dminAll = Fp16.ToSingle(dminHalf);
        for (int j = 0; j < 8; j++)
        {
            ScaleMinK4(j, packed, out int sc, out int m);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = dminAll * m;
            for (int i = 0; i < 32; i++)
                levels[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, 15);
        }
        Span<byte> qs = y.Slice(16, 128);
        for (int j = 0, o = 0; j < QK; j += 64, o += 32)
            for (int l = 0; l < 32; l++) qs[o + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 4));
    }

    /// <summary>Scale and min of sub-block j from the packed 12 bytes (ggml's get_scale_min_k4).</summary>
    internal static void ScaleMinK4(int j, ReadOnlySpan<byte> q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Levels 0..nmax with x ≈ scale·L − theMin, minimising the weighted squared error: start from the
    /// min/max grid, then try nstep+1 other grids and, for each, the least-squares scale and min for its levels
    /// (ggml's make_qkx2_quants). The min is never positive (theMin never negative).</summary>
    private static float FitScaleAndMin(ReadOnlySpan<float> x, int nmax, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0], sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            levels.Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
            levels[i] = (byte)l;
            float diff = scale * l + min - x[i];
            bestError += weights[i] * (diff * diff);
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
                aux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    error += weights[i] * (diff * diff);
                }
                if (error < bestError)
                {
                    aux[..n].CopyTo(levels);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>Q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], fp16 d last.</summary>
    private static void Q6KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> levels = stackalloc byte[QK];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = FitSymmetricScale(x.Slice(16 * ib, 16), 32, levels.Slice(16 * ib, 16));
            scales[ib] = scale;
            if (MathF.Abs(scale) > maxAbsScale)
            {
                maxAbsScale = MathF.Abs(scale);
                maxScale = scale;
            }
        }
        y[..210].Clear();
        if (maxAbsScale < 1e-15f) return;

        float iscale = -128f / maxScale;
        ushort dHalf = Fp16.FromSingle(1 / iscale);
        BinaryPrimitives.WriteUInt16LittleEndian(y[208..], dHalf);
        Span<byte> sc = y.Slice(192, 16);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
        float dAll = Fp16.ToSingle(dHalf);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (sbyte)sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                levels[16 * j + i] = (byte)(Math.Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
        }
        Span<byte> ql = y[..128], qh = y.Slice(128, 64);
        for (int j = 0, lo = 0, hi = 0; j < QK; j += 128, lo += 64, hi += 32)
            for (int l = 0; l < 32; l++)
            {
                int q1 = levels[j + l], q2 = levels[j + l + 32], q3 = levels[j + l + 64], q4 = levels[j + l + 96];
                ql[lo + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[lo + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[hi + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }

    /// <summary>Signed levels −nmax..nmax−1 (stored +nmax) with x ≈ scale·L, weights x² (ggml's make_qx_quants with
    /// rmse_type 1): the max-magnitude grid, then 18 nearby grids, keeping the best least-squares fit.</summary>
    private static float FitSymmetricScale(ReadOnlySpan<float> x, int nmax, Span<byte> levels)
    {
        int n = x.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < 1e-15f)
        {
            levels.Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (byte)(l + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * l;
            sumL2 += w * l * l;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0f;
        float best = scale * sumLX;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumLX = sumL2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumLX += w * x[i] * l;
                sumL2 += w * l * l;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < n; i++) levels[i] = (byte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }
}

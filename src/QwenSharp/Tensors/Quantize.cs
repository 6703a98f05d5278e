using System.Runtime.CompilerServices;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors;

/// <summary>Float rows to ggml blocks, as llama.cpp's reference quantizers (quantize_row_*_ref) write model files.
/// Not a hot path: plain loops. K-quants need llama.cpp's iterative scale search and are not offered.</summary>
public static class Quantize
{
    public static bool CanQuantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1;

    /// <summary>src.Length elements (a whole number of blocks) into dst (at least RowBytes bytes).</summary>
    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!CanQuantize(type)) throw new QwenSharpException($"cannot quantize to {GgmlTypeInfo.Name(type)}");
        long bytes = TensorArguments.RowBytes(type, src.Length);
        if (dst.Length < bytes)
            throw new QwenSharpException($"{GgmlTypeInfo.Name(type)} row of {src.Length} elements needs {bytes} bytes, got {dst.Length}");
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < src.Length; i++) Write(dst, 4 * i, src[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < src.Length; i++) Write(dst, 2 * i, Fp16.FromSingle(src[i]));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < src.Length; i++) Write(dst, 2 * i, BFloat16.FromSingle(src[i]));
                break;
            default:
                int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
                for (int b = 0; b < src.Length / 32; b++)
                    QuantizeBlock(type, src.Slice(32 * b, 32), dst.Slice(b * blockBytes, blockBytes));
                break;
        }
    }

    private static void QuantizeBlock(GgmlType type, ReadOnlySpan<float> x, Span<byte> block)
    {
        switch (type)
        {
            case GgmlType.Q8_0:
            {
                // d = amax/127, q = roundf(x/d): half away from zero (this is the file quantizer, not the x86 activation one)
                float amax = 0;
                foreach (float v in x) amax = Math.Max(amax, Math.Abs(v));
                float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
                Write(block, 0, Fp16.FromSingle(d));
                for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
                break;
            }
            case GgmlType.Q4_0:
            case GgmlType.Q5_0:
            {
                // d = max / -2^(bits-1) with max the signed value of largest magnitude, so it lands exactly on -2^(bits-1)
                int levels = type == GgmlType.Q4_0 ? 16 : 32;
                float max = SignedMax(x);
                float d = max / -(levels / 2), id = d != 0 ? 1f / d : 0f;
                Write(block, 0, Fp16.FromSingle(d));
                Span<int> q = stackalloc int[32];
                for (int j = 0; j < 32; j++) q[j] = Math.Min(levels - 1, (int)(x[j] * id + (levels / 2 + 0.5f)));
                PackNibbles(type, q, block);
                break;
            }
            case GgmlType.Q4_1:
            case GgmlType.Q5_1:
            {
                int levels = type == GgmlType.Q4_1 ? 16 : 32;
                float min = float.MaxValue, max = -float.MaxValue;
                foreach (float v in x) { min = Math.Min(min, v); max = Math.Max(max, v); }
                float d = (max - min) / (levels - 1), id = d != 0 ? 1f / d : 0f;
                Write(block, 0, Fp16.FromSingle(d));
                Write(block, 2, Fp16.FromSingle(min));
                Span<int> q = stackalloc int[32];
                for (int j = 0; j < 32; j++) q[j] = Math.Min(levels - 1, (int)((x[j] - min) * id + 0.5f));
                PackNibbles(type, q, block);
                break;
            }
        }
    }

    /// <summary>The value of largest magnitude, with its sign (the first one if tied).</summary>
    private static float SignedMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
            if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
        return max;
    }

    /// <summary>Element j in the low nibble of qs[j], j+16 in the high nibble; for 5-bit types the fifth bits go to a
    /// little-endian uint32 qh (bit j for element j) just before qs.</summary>
    private static void PackNibbles(GgmlType type, ReadOnlySpan<int> q, Span<byte> block)
    {
        bool fiveBit = type is GgmlType.Q5_0 or GgmlType.Q5_1;
        int header = type switch { GgmlType.Q4_0 => 2, GgmlType.Q4_1 => 4, GgmlType.Q5_0 => 2, _ => 4 };
        int qsOffset = header + (fiveBit ? 4 : 0);
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            block[qsOffset + j] = (byte)((q[j] & 15) | (q[j + 16] & 15) << 4);
            qh |= (uint)((q[j] >> 4) & 1) << j;
            qh |= (uint)((q[j + 16] >> 4) & 1) << (j + 16);
        }
        if (fiveBit) Write(block, header, qh);
    }

    private static void Write<T>(Span<byte> dst, int offset, T value) where T : unmanaged =>
        Unsafe.WriteUnaligned(ref dst[offset], value);
}

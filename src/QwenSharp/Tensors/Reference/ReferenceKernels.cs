using System.Buffers.Binary;

namespace QwenSharp.Tensors;

/// <summary>Scalar reference twins of the tensor kernels, used only by tests. They are written straight from the
/// block definitions, one element at a time, with no shared code from the fast kernels: fp16 goes through
/// System.Half, and values are computed exactly in double. Every dequantized value in ggml is the single rounding
/// of an exact product, so (float) of the exact double is bit-identical to llama.cpp's dequantize_row_*.</summary>
internal static partial class ReferenceKernels
{
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        var exact = DecodeExact(type, src, dst.Length);
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)exact[i];
    }

    /// <summary>Exact values of n elements of a row of weights (or of activations: Q8_0, Q8_1, Q8_K).</summary>
    public static double[] DecodeExact(GgmlType type, ReadOnlySpan<byte> row, int n)
    {
        var y = new double[n];
        int blockSize = GgmlTypeInfo.Block(type).BlockSize, blockBytes = GgmlTypeInfo.Block(type).TypeSize;
        for (int i = 0; i < n; i++)
        {
            var block = row.Slice(i / blockSize * blockBytes, blockBytes);
            y[i] = Element(type, block, i % blockSize);
        }
        return y;
    }

    internal static double Half(ReadOnlySpan<byte> p) => (double)(float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(p));

    private static double Element(GgmlType type, ReadOnlySpan<byte> b, int i) => type switch
    {
        GgmlType.F32 => BinaryPrimitives.ReadSingleLittleEndian(b),
        GgmlType.F16 => Half(b),
        GgmlType.BF16 => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        GgmlType.Q8_0 => Half(b) * (sbyte)b[2 + i],
        GgmlType.Q8_1 => Half(b) * (sbyte)b[4 + i],
        GgmlType.Q8_K => BinaryPrimitives.ReadSingleLittleEndian(b) * (sbyte)b[4 + i],
        GgmlType.Q4_0 => Half(b) * (Nibble(b.Slice(2), i) - 8),
        GgmlType.Q4_1 => Half(b) * Nibble(b.Slice(4), i) + Half(b.Slice(2)),
        GgmlType.Q5_0 => Half(b) * ((Nibble(b.Slice(6), i) | FifthBit(b.Slice(2), i)) - 16),
        GgmlType.Q5_1 => Half(b) * (Nibble(b.Slice(8), i) | FifthBit(b.Slice(4), i)) + Half(b.Slice(2)),
        GgmlType.Q2_K => Q2_K(b, i),
        GgmlType.Q3_K => Q3_K(b, i),
        GgmlType.Q4_K => Q4_K(b, i),
        GgmlType.Q5_K => Q5_K(b, i),
        GgmlType.Q6_K => Q6_K(b, i),
        _ => throw new NotSupportedException(type.ToString()),
    };

    /// <summary>32-element blocks: element i &lt; 16 is the low nibble of qs[i], element i ≥ 16 the high nibble of qs[i-16].</summary>
    private static int Nibble(ReadOnlySpan<byte> qs, int i) => i < 16 ? qs[i] & 15 : qs[i - 16] >> 4;

    /// <summary>Bit i of the little-endian uint32 qh, worth 16.</summary>
    private static int FifthBit(ReadOnlySpan<byte> qh, int i) => (int)((BinaryPrimitives.ReadUInt32LittleEndian(qh) >> i) & 1) << 4;

    // K-quants: element e of 256. In the 2-bit layouts (Q2_K, Q3_K) and Q6_K, half h = e/128, and inside the
    // half r = e%128 is group r/32, position l = r%32; sub-blocks of 16 are k = e/16.

    private static double Q2_K(ReadOnlySpan<byte> b, int e)
    {
        int h = e / 128, j = e % 128 / 32, l = e % 32;
        int q = (b[16 + 32 * h + l] >> (2 * j)) & 3;
        int sc = b[e / 16];
        return Half(b.Slice(80)) * (sc & 15) * q - Half(b.Slice(82)) * (sc >> 4);
    }

    private static double Q3_K(ReadOnlySpan<byte> b, int e)
    {
        int h = e / 128, j = e % 128 / 32, l = e % 32, k = e / 16;
        int low = (b[32 + 32 * h + l] >> (2 * j)) & 3;
        bool high = ((b[l] >> (4 * h + j)) & 1) != 0;
        int q = low - (high ? 0 : 4);
        var scales = b.Slice(96, 12);
        int scaleLow = k < 8 ? scales[k] & 15 : scales[k - 8] >> 4;
        int scaleHigh = (scales[8 + k % 4] >> (2 * (k / 4))) & 3;
        return Half(b.Slice(108)) * ((scaleLow | scaleHigh << 4) - 32) * q;
    }

    /// <summary>ggml's get_scale_min_k4: the 6-bit scale and min of sub-block k (of 8) from 12 bytes.</summary>
    private static (int Scale, int Min) ScaleMinK4(ReadOnlySpan<byte> s, int k) => k < 4
        ? (s[k] & 63, s[k + 4] & 63)
        : ((s[k + 4] & 15) | (s[k - 4] >> 6) << 4, (s[k + 4] >> 4) | (s[k] >> 6) << 4);

    private static double Q4_K(ReadOnlySpan<byte> b, int e)
    {
        int chunk = e / 64, r = e % 64, l = r % 32;
        int q = r < 32 ? b[16 + 32 * chunk + l] & 15 : b[16 + 32 * chunk + l] >> 4;
        var (scale, min) = ScaleMinK4(b.Slice(4, 12), e / 32);
        return Half(b) * scale * q - Half(b.Slice(2)) * min;
    }

    private static double Q5_K(ReadOnlySpan<byte> b, int e)
    {
        int chunk = e / 64, r = e % 64, l = r % 32, k = e / 32;
        int q = r < 32 ? b[48 + 32 * chunk + l] & 15 : b[48 + 32 * chunk + l] >> 4;
        q |= ((b[16 + l] >> k) & 1) << 4;
        var (scale, min) = ScaleMinK4(b.Slice(4, 12), k);
        return Half(b) * scale * q - Half(b.Slice(2)) * min;
    }

    private static double Q6_K(ReadOnlySpan<byte> b, int e)
    {
        int h = e / 128, g = e % 128 / 32, l = e % 32;
        int low = b[64 * h + l + 32 * (g & 1)];
        low = g < 2 ? low & 15 : low >> 4;
        int high = (b[128 + 32 * h + l] >> (2 * g)) & 3;
        return Half(b.Slice(208)) * (sbyte)b[192 + e / 16] * ((low | high << 4) - 32);
    }
}

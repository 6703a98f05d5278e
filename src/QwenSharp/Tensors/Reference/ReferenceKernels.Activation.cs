using System.Buffers.Binary;

namespace QwenSharp.Tensors;

internal static partial class ReferenceKernels
{
    /// <summary>Quantizes activations as llama.cpp's x86 build does for the weight type's vec_dot_type.</summary>
    public static void QuantizeActivation(GgmlType weightType, ReadOnlySpan<float> x, Span<byte> dst)
    {
        switch (VecDot.ActivationType(weightType))
        {
            case GgmlType.F32:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst.Slice(4 * i), x[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(2 * i), BitConverter.HalfToUInt16Bits((Half)x[i]));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(2 * i), ToBFloat16(x[i]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < x.Length / 32; b++) Q8Block(x.Slice(32 * b, 32), dst.Slice(34 * b, 34), withSum: false);
                break;
            case GgmlType.Q8_1:
                for (int b = 0; b < x.Length / 32; b++) Q8Block(x.Slice(32 * b, 32), dst.Slice(36 * b, 36), withSum: true);
                break;
            case GgmlType.Q8_K:
                for (int b = 0; b < x.Length / 256; b++) Q8_KBlock(x.Slice(256 * b, 256), dst.Slice(292 * b, 292));
                break;
        }
    }

    /// <summary>ggml_compute_fp32_to_bf16: NaN made quiet, otherwise round to nearest even on the dropped 16 bits.</summary>
    private static ushort ToBFloat16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
    }

    private static ushort ToHalfBits(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>x86 quantize_row_q8_0 / q8_1: d = amax/127; multiplier 127/amax; round half to even.</summary>
    private static void Q8Block(ReadOnlySpan<float> x, Span<byte> block, bool withSum)
    {
        float amax = 0;
        foreach (float v in x) if (Math.Abs(v) > amax) amax = Math.Abs(v);
        float d = amax / 127f;
        float multiplier = amax != 0 ? 127f / amax : 0f;
        int sum = 0;
        int qs = withSum ? 4 : 2;
        for (int j = 0; j < 32; j++)
        {
            int q = (int)Math.Round(x[j] * multiplier, MidpointRounding.ToEven);
            block[qs + j] = (byte)(sbyte)q;
            sum += q;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(block, ToHalfBits(d));
        if (withSum) BinaryPrimitives.WriteUInt16LittleEndian(block.Slice(2), ToHalfBits(d * sum));
    }

    /// <summary>quantize_row_q8_K_ref.</summary>
    private static void Q8_KBlock(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
            if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
        block.Clear();
        if (amax == 0) return;
        float iscale = -127f / max;
        for (int j = 0; j < 256; j++)
        {
            int q = Math.Min(127, (int)Math.Round(iscale * x[j], MidpointRounding.ToEven));
            block[4 + j] = (byte)(sbyte)q;
        }
        for (int k = 0; k < 16; k++)
        {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += (sbyte)block[4 + 16 * k + j];
            BinaryPrimitives.WriteInt16LittleEndian(block.Slice(260 + 2 * k), (short)sum);
        }
        BinaryPrimitives.WriteSingleLittleEndian(block, 1f / iscale);
    }
}

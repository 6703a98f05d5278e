namespace QwenSharp.Tensors;

/// <summary>One entry point for every type QwenSharp can write: <see cref="Quantize"/>'s block types and floats,
/// and <see cref="KQuantize"/>'s K-quants.</summary>
public static class RowQuantizer
{
    public static bool CanQuantize(GgmlType type) => Quantize.CanQuantize(type) || KQuantize.CanQuantize(type);

    public static void Row(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (KQuantize.CanQuantize(type)) KQuantize.Row(type, src, dst);
        else Quantize.Row(type, src, dst);
    }

    /// <summary>The type llama.cpp's quantizer falls back to when a row's length is not a whole number of
    /// <paramref name="type"/> blocks (K-quants need 256): Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; then F16 when even
    /// 32 does not divide it.</summary>
    public static GgmlType FitRow(GgmlType type, long rowLength)
    {
        if (rowLength % GgmlTypeInfo.Block(type).BlockSize == 0) return type;
        var fallback = type switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => GgmlType.F16,
        };
        return rowLength % GgmlTypeInfo.Block(fallback).BlockSize == 0 ? fallback : GgmlType.F16;
    }
}

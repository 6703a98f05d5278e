using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>Checks a tensor's type and dimensions and works out its element count and byte size; shared by the
/// reader (which reports problems against the file) and the writer (which refuses to write them).</summary>
internal static class GgufTensorShape
{
    /// <summary>Returns null when the shape is valid, otherwise what is wrong (a phrase to follow the tensor's name).</summary>
    public static string? Check(GgmlType type, ReadOnlySpan<long> dims, out long elementCount, out long byteSize)
    {
        elementCount = 0;
        byteSize = 0;
        if (!GgmlTypeInfo.IsKnown(type)) return $"has unknown type {(uint)type}";
        if (dims.Length > GgufConstants.MaxDims) return $"has {dims.Length} dimensions (at most {GgufConstants.MaxDims})";

        long count = 1;
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] < 1) return $"has invalid dimension ne[{i}] = {dims[i]}";
            if (count > long.MaxValue / dims[i]) return "has too many elements (the count overflows int64)";
            count *= dims[i];
        }

        var (blockSize, typeSize) = GgmlTypeInfo.Block(type);
        // Quant blocks run along ne0, so every row (not just the whole tensor) must be whole blocks.
        long rowLength = dims.Length > 0 ? dims[0] : 1;
        if (rowLength % blockSize != 0)
            return $"has ne[0] = {rowLength}, not a whole number of {GgmlTypeInfo.Name(type)} blocks of {blockSize}";
        long blocks = count / blockSize;
        if (blocks > long.MaxValue / typeSize) return "is too large (its byte size overflows int64)";

        elementCount = count;
        byteSize = blocks * typeSize;
        return null;
    }
}

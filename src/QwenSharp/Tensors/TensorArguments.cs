namespace QwenSharp.Tensors;

/// <summary>Argument checks shared by the public tensor entry points; every failure is a QwenSharpException.</summary>
internal static class TensorArguments
{
    public static void RequireSupported(GgmlType type)
    {
        if (!GgmlTypeInfo.IsSupported(type))
            throw new QwenSharpException(GgmlTypeInfo.IsKnown(type)
                ? $"tensor type {GgmlTypeInfo.Name(type)} is not supported"
                : $"unknown tensor type id {(uint)type}");
    }

    /// <summary>Bytes of a row of n elements of type; n must be a whole number of blocks.</summary>
    public static long RowBytes(GgmlType type, long n)
    {
        int blockSize = GgmlTypeInfo.Block(type).BlockSize;
        if (n < 0 || n % blockSize != 0)
            throw new QwenSharpException($"a {GgmlTypeInfo.Name(type)} row needs a multiple of {blockSize} elements, got {n}");
        return GgmlTypeInfo.RowBytes(type, n);
    }
}

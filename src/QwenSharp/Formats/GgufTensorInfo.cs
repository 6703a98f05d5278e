using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>One tensor's entry in a GGUF file, already validated against the file it came from.</summary>
public sealed class GgufTensorInfo
{
    public string Name { get; }

    public GgmlType Type { get; }

    /// <summary>ggml's ne: the innermost (contiguous, quant-block) dimension first. An HF [out, in] weight is {in, out}.
    /// Shared, not copied: do not modify it.</summary>
    public long[] Dims { get; }

    public long ElementCount { get; }

    public long ByteSize { get; }

    /// <summary>Offset of the tensor's bytes from the start of the file's data section.</summary>
    public long Offset { get; }

    /// <summary>Position in the file's tensor list.</summary>
    public int Index { get; }

    internal GgufTensorInfo(string name, GgmlType type, long[] dims, long elementCount, long byteSize, long offset, int index)
    {
        Name = name;
        Type = type;
        Dims = dims;
        ElementCount = elementCount;
        ByteSize = byteSize;
        Offset = offset;
        Index = index;
    }

    public int DimCount => Dims.Length;

    /// <summary>ne[i], or 1 past the stored dimensions (ggml's convention for lower-rank tensors).</summary>
    public long Ne(int i) => i < Dims.Length ? Dims[i] : 1;

    public override string ToString() => $"{Name} {GgmlTypeInfo.Name(Type)} [{string.Join(", ", Dims)}]";
}

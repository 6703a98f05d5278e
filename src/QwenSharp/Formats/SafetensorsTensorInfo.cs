namespace QwenSharp.Formats;

/// <summary>One tensor's entry in a safetensors header, already checked against the file it came from.</summary>
/// <param name="Name">The name as the file spells it (HF names: model.layers.0.self_attn.q_proj.weight).</param>
/// <param name="DType">The safetensors dtype ("BF16", "F32", ...).</param>
/// <param name="Shape">Outermost dimension first (row-major, PyTorch order): an HF linear weight is [out, in].</param>
/// <param name="Offset">Start of the tensor's bytes, counted from the start of the data section.</param>
/// <param name="ByteSize">Bytes: element count times the dtype's size.</param>
public sealed record SafetensorsTensorInfo(string Name, string DType, long[] Shape, long Offset, long ByteSize)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public override string ToString() => $"{Name} {DType} [{string.Join(", ", Shape)}]";
}

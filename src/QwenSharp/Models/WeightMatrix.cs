using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A 2-D weight in the memory-mapped file: <see cref="Rows"/> output features, each a row of
/// <see cref="Cols"/> input features stored as <see cref="Type"/> blocks. GGUF ne = {Cols, Rows}.</summary>
public readonly unsafe struct WeightMatrix
{
    public readonly string Name;
    public readonly GgmlType Type;
    public readonly byte* Data;
    public readonly int Rows;
    public readonly int Cols;
    public readonly long RowBytes;

    public WeightMatrix(string name, GgmlType type, byte* data, int rows, int cols)
    {
        Name = name;
        Type = type;
        Data = data;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
    }

    public byte* Row(int r) => Data + r * RowBytes;
}

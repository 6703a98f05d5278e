using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A 2-D weight in the memory-mapped file: <see cref="Rows"/> output features, each a row of
/// <see cref="Cols"/> input features stored as <see cref="Type"/> blocks. GGUF ne = {Cols, Rows}. A matrix whose
/// <see cref="Layout"/> is not <see cref="WeightLayout.Rows"/> was repacked at load and is read only through
/// <see cref="VecDot.MatMulRows(GgmlType, WeightLayout, byte*, int, int, int, byte*, int, float*, int)"/>.</summary>
public readonly unsafe struct WeightMatrix
{
    public readonly string Name;
    public readonly GgmlType Type;
    public readonly byte* Data;
    public readonly int Rows;
    public readonly int Cols;
    public readonly long RowBytes;
    public readonly WeightLayout Layout;

    public WeightMatrix(string name, GgmlType type, byte* data, int rows, int cols, WeightLayout layout = WeightLayout.Rows)
    {
        Layout = layout;
        Name = name;
        Type = type;
        Data = data;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
    }

    /// <summary>Row r's blocks in the file's layout into dst (RowBytes bytes), whatever the layout here.</summary>
    public void CopyRow(int r, Span<byte> dst)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r), $"{Name} has {Rows} rows, asked for row {r}");
        if (dst.Length < RowBytes) throw new ArgumentException($"{Name}: a row is {RowBytes} bytes, the buffer {dst.Length}", nameof(dst));
        fixed (byte* d = dst)
            if (Layout == WeightLayout.Rows) Buffer.MemoryCopy(Data + r * RowBytes, d, RowBytes, RowBytes);
            else Tensors.Kernels.Interleaved8.CopyRow(Type, Data, r, Cols, d);
    }

    /// <summary>Row r's blocks (standard layout only: an interleaved matrix has no contiguous rows).</summary>
    public byte* Row(int r) => Layout == WeightLayout.Rows ? Data + r * RowBytes
        : throw new InvalidOperationException($"{Name} is stored {Layout}: its rows are not contiguous");
}

using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A 2-D weight in the memory-mapped file: <see cref="Rows"/> output features, each a row of
/// <see cref="Cols"/> input features stored as <see cref="Type"/> blocks. GGUF ne = {Cols, Rows}. A matrix whose
/// <see cref="Layout"/> is not <see cref="WeightLayout.Rows"/> was repacked at load and is read only through
/// <see cref="VecDot.MatMulRows(GgmlType, WeightLayout, byte*, int, int, int, byte*, int, float*, int)"/>. A matrix
/// with <see cref="Slices"/> had its rows moved at load into one slice per decode thread (<see cref="DecodeLayout"/>);
/// its rows are then read only through <see cref="MatMulRows"/>, <see cref="CopyRow"/> and <see cref="Row"/>, which
/// find each row's slice, and <see cref="Data"/> is null.</summary>
public readonly unsafe struct WeightMatrix
{
    public readonly string Name;
    public readonly GgmlType Type;
    public readonly byte* Data;
    public readonly int Rows;
    public readonly int Cols;
    public readonly long RowBytes;
    public readonly WeightLayout Layout;
    public readonly RowSlices? Slices;

    public WeightMatrix(string name, GgmlType type, byte* data, int rows, int cols, WeightLayout layout = WeightLayout.Rows)
    {
        Layout = layout;
        Name = name;
        Type = type;
        Data = data;
        Rows = rows;
        Cols = cols;
        RowBytes = GgmlTypeInfo.RowBytes(type, cols);
        Slices = null;
    }

    /// <summary><paramref name="m"/> with its rows moved into <paramref name="slices"/>.</summary>
    internal WeightMatrix(in WeightMatrix m, RowSlices slices)
    {
        if (slices.End(slices.Count - 1) != m.Rows)
            throw new ArgumentException($"{m.Name}: the slices cover {slices.End(slices.Count - 1)} rows, the matrix has {m.Rows}");
        Name = m.Name; Type = m.Type; Rows = m.Rows; Cols = m.Cols; RowBytes = m.RowBytes; Layout = m.Layout;
        Data = null;
        Slices = slices;
    }

    /// <summary>The pointer the kernels address row <paramref name="row"/> from: <see cref="Data"/>, or the base of
    /// the row's slice.</summary>
    public byte* BaseFor(int row) => Slices == null ? Data : Slices.Base(Slices.Find(row));

    /// <summary>output[b · <see cref="Rows"/> + r] = row r · activation b for r in [start, end) and b in [0, batch)
    /// (<see cref="VecDot.MatMulRows(GgmlType, WeightLayout, byte*, int, int, int, byte*, int, float*, int)"/>), one
    /// kernel call per slice the rows cross.</summary>
    internal void MatMulRows(int start, int end, byte* act, int batch, float* output)
    {
        if (Slices == null)
        {
            VecDot.MatMulRows(Type, Layout, Data, Cols, start, end, act, batch, output, Rows);
            return;
        }
        while (start < end)
        {
            int s = Slices.Find(start), stop = Math.Min(end, Slices.End(s));
            VecDot.MatMulRows(Type, Layout, Slices.Base(s), Cols, start, stop, act, batch, output, Rows);
            start = stop;
        }
    }

    /// <summary>Row r's blocks in the file's layout into dst (RowBytes bytes), whatever the layout here.</summary>
    public void CopyRow(int r, Span<byte> dst)
    {
        if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(r), $"{Name} has {Rows} rows, asked for row {r}");
        if (dst.Length < RowBytes) throw new ArgumentException($"{Name}: a row is {RowBytes} bytes, the buffer {dst.Length}", nameof(dst));
        fixed (byte* d = dst)
            if (Layout == WeightLayout.Rows) Buffer.MemoryCopy(BaseFor(r) + r * RowBytes, d, RowBytes, RowBytes);
            else Tensors.Kernels.Interleaved8.CopyRow(Type, BaseFor(r), r, Cols, d);
    }

    /// <summary>Row r's blocks (standard layout only: an interleaved matrix has no contiguous rows).</summary>
    public byte* Row(int r) => Layout == WeightLayout.Rows ? BaseFor(r) + r * RowBytes
        : throw new InvalidOperationException($"{Name} is stored {Layout}: its rows are not contiguous");
}

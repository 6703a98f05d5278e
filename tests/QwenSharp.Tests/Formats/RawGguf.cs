using System.Buffers.Binary;
using System.Text;

namespace QwenSharp.Tests.Formats;

/// <summary>Writes GGUF bytes field by field, straight from the spec and independently of GgufWriter, so tests can
/// state what a correct file looks like and hand-craft broken ones. It remembers where each count, length, dimension,
/// type and offset field lies, so the fuzz test can aim corruptions at them.</summary>
internal sealed class RawGguf
{
    public enum FieldKind { Count, Length, Dim, Type, Offset, Version }

    private readonly MemoryStream _bytes = new();

    public List<(long Position, int Size, FieldKind Kind)> Fields { get; } = [];

    public long Length => _bytes.Length;

    public RawGguf Header(uint version, ulong tensorCount, ulong kvCount, uint magic = 0x46554747)
    {
        U32(magic);
        Field(FieldKind.Version, 4); U32(version);
        Field(FieldKind.Count, 8); U64(tensorCount);
        Field(FieldKind.Count, 8); U64(kvCount);
        return this;
    }

    public RawGguf U8(byte v) { _bytes.WriteByte(v); return this; }

    public RawGguf U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); _bytes.Write(b); return this; }

    public RawGguf U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _bytes.Write(b); return this; }

    public RawGguf U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); _bytes.Write(b); return this; }

    public RawGguf F32(float v) => U32(BitConverter.SingleToUInt32Bits(v));

    public RawGguf F64(double v) => U64(BitConverter.DoubleToUInt64Bits(v));

    public RawGguf Bytes(ReadOnlySpan<byte> b) { _bytes.Write(b); return this; }

    public RawGguf Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));

    public RawGguf StrBytes(byte[] utf8)
    {
        Field(FieldKind.Length, 8);
        U64((ulong)utf8.Length);
        return Bytes(utf8);
    }

    /// <summary>Key, value type, and leaves the value to the caller.</summary>
    public RawGguf Key(string key, uint valueType)
    {
        Str(key);
        Field(FieldKind.Type, 4);
        return U32(valueType);
    }

    /// <summary>Array header: element type and count; items follow.</summary>
    public RawGguf ArrayHeader(uint elementType, ulong count)
    {
        Field(FieldKind.Type, 4); U32(elementType);
        Field(FieldKind.Count, 8); return U64(count);
    }

    public RawGguf TensorInfo(string name, uint type, ulong[] dims, ulong offset)
    {
        Str(name);
        Field(FieldKind.Count, 4); U32((uint)dims.Length);
        foreach (ulong d in dims) { Field(FieldKind.Dim, 8); U64(d); }
        Field(FieldKind.Type, 4); U32(type);
        Field(FieldKind.Offset, 8); return U64(offset);
    }

    public RawGguf PadTo(int alignment)
    {
        while (_bytes.Length % alignment != 0) _bytes.WriteByte(0);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    private void Field(FieldKind kind, int size) => Fields.Add((_bytes.Length, size, kind));
}

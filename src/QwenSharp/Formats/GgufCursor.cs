using System.Buffers.Binary;
using System.Text;

namespace QwenSharp.Formats;

/// <summary>Bounds-checked little-endian reads from the mapped file. It also remembers where in the file's structure
/// the parser is, so that any failure can say "truncated while reading tensor info 3 (name)" without building that
/// text for every successful read.</summary>
internal sealed unsafe class GgufCursor
{
    private readonly byte* _base;

    public string FilePath { get; }

    public long Length { get; }

    public long Position { get; private set; }

    public long Remaining => Length - Position;

    /// <summary>What is being read: "header", "metadata entry", "tensor info".</summary>
    public string Section = "header";

    /// <summary>Which entry of the section, or -1.</summary>
    public long Index = -1;

    /// <summary>Which part of the entry: "name", "value of general.name", ...</summary>
    public string Field = "magic";

    /// <summary>Which array item, or -1.</summary>
    public long Item = -1;

    public GgufCursor(string filePath, byte* data, long length)
    {
        FilePath = filePath;
        _base = data;
        Length = length;
    }

    public string Where
    {
        get
        {
            string where = Index >= 0 ? $"{Section} {Index} ({Field}" : $"{Section} ({Field}";
            return where + (Item >= 0 ? $", item {Item})" : ")");
        }
    }

    public ModelFileException Fail(string problem) => new(FilePath, problem);

    public ModelFileException Truncated(string? detail = null) =>
        Fail($"truncated while reading {Where}" + (detail is null ? "" : ": " + detail));

    /// <summary>Skips to the next multiple of <paramref name="alignment"/> (a power of two); may move past the end,
    /// which the caller checks, because padding after the last tensor info is only needed if tensors follow.</summary>
    public long AlignedPosition(long alignment) => (Position + alignment - 1) & ~(alignment - 1);

    public ReadOnlySpan<byte> ReadBytes(long count)
    {
        if (count > Remaining) throw Truncated($"needs {count} bytes, {Remaining} left");
        if (count > int.MaxValue) throw Fail($"{Where} is {count} bytes, too large to read at once");
        var span = new ReadOnlySpan<byte>(_base + Position, (int)count);
        Position += count;
        return span;
    }

    public byte ReadU8() => ReadBytes(1)[0];

    public ushort ReadU16() => BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2));

    public uint ReadU32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    public ulong ReadU64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));

    /// <summary>A u64 length and that many UTF-8 bytes; invalid UTF-8 becomes U+FFFD rather than failing.</summary>
    public string ReadString()
    {
        ulong length = ReadU64();
        if (length > (ulong)Remaining) throw Truncated($"string of {length} bytes but only {Remaining} bytes left");
        if (length > int.MaxValue) throw Fail($"string of {length} bytes in {Where} is too long");
        return length == 0 ? "" : Encoding.UTF8.GetString(ReadBytes((long)length));
    }
}

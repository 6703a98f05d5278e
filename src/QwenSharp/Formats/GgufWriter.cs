using System.Buffers.Binary;
using System.Text;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>Builds a GGUF file: metadata in the order added, then tensor infos, then each tensor's bytes at the next
/// multiple of the alignment. Used by tests, the synthetic demo model and `qwen convert`.</summary>
public sealed class GgufWriter
{
    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dims, long ByteSize, Action<Stream> WriteData);

    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    public uint Version { get; }

    public int Alignment { get; }

    public GgufWriter(uint version = 3, int alignment = GgufConstants.DefaultAlignment)
    {
        if (version is not (2 or 3)) throw new QwenSharpException($"cannot write GGUF version {version} (only 2 and 3)");
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0 || alignment > GgufConstants.MaxAlignment)
            throw new QwenSharpException($"GGUF alignment {alignment} is not a power of two up to {GgufConstants.MaxAlignment}");
        Version = version;
        Alignment = alignment;
    }

    /// <summary>Adds a metadata entry. general.alignment is written automatically when the alignment is not the
    /// default; adding it yourself is allowed only with the writer's own alignment.</summary>
    public void Add(string key, GgufValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == GgufConstants.AlignmentKey && !(value.IsInteger && value.AsInt64() == Alignment))
            throw new QwenSharpException($"{key} = {value} differs from the writer's alignment {Alignment}; pass it to the constructor");
        if (!_keys.Add(key)) throw new QwenSharpException($"duplicate metadata key {key}");
        _metadata.Add(new(key, value));
    }

    public void Add(string key, string value) => Add(key, GgufValue.From(value));
    public void Add(string key, byte value) => Add(key, GgufValue.From(value));
    public void Add(string key, sbyte value) => Add(key, GgufValue.From(value));
    public void Add(string key, ushort value) => Add(key, GgufValue.From(value));
    public void Add(string key, short value) => Add(key, GgufValue.From(value));
    public void Add(string key, uint value) => Add(key, GgufValue.From(value));
    public void Add(string key, int value) => Add(key, GgufValue.From(value));
    public void Add(string key, ulong value) => Add(key, GgufValue.From(value));
    public void Add(string key, long value) => Add(key, GgufValue.From(value));
    public void Add(string key, float value) => Add(key, GgufValue.From(value));
    public void Add(string key, double value) => Add(key, GgufValue.From(value));
    public void Add(string key, bool value) => Add(key, GgufValue.From(value));

    public void AddArray(string key, GgufArray value) => Add(key, GgufValue.From(value));
    public void AddArray(string key, string[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, byte[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, sbyte[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, ushort[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, short[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, uint[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, int[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, ulong[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, long[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, float[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, double[] value) => AddArray(key, GgufArray.Of(value));
    public void AddArray(string key, bool[] value) => AddArray(key, GgufArray.Of(value));
    /// <summary>An array of arrays; each item must be an array value.</summary>
    public void AddArray(string key, GgufValue[] value) => AddArray(key, GgufArray.Of(value));

    /// <summary>Adds a tensor whose bytes are already in memory. The memory is read at <see cref="Write(string)"/>
    /// time, so it must not change before then.</summary>
    public void AddTensor(string name, GgmlType type, long[] dims, ReadOnlyMemory<byte> data) =>
        AddTensor(name, type, dims, data.Length, stream => stream.Write(data.Span));

    /// <summary>Adds a tensor whose bytes <paramref name="writeData"/> streams out at write time (for tensors too big
    /// to hold); it must write exactly <paramref name="byteSize"/> bytes.</summary>
    public void AddTensor(string name, GgmlType type, long[] dims, long byteSize, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(writeData);
        string? problem = GgufTensorShape.Check(type, dims, out _, out long expectedBytes);
        if (problem != null) throw new QwenSharpException($"tensor {name} {problem}");
        if (byteSize != expectedBytes)
            throw new QwenSharpException($"tensor {name} ({GgmlTypeInfo.Name(type)} [{string.Join(", ", dims)}]) needs {expectedBytes} bytes, got {byteSize}");
        if (!_tensorNames.Add(name)) throw new QwenSharpException($"duplicate tensor name {name}");
        _tensors.Add(new PendingTensor(name, type, (long[])dims.Clone(), byteSize, writeData));
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it, so a failed write never
    /// leaves a half-written model under the final name.</summary>
    public void Write(string path)
    {
        string temp = path + ".partial";
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(file);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public void Write(Stream stream)
    {
        var output = new GgufCountingStream(stream);
        List<KeyValuePair<string, GgufValue>> metadata = MetadataToWrite();

        WriteU32(output, GgufConstants.Magic);
        WriteU32(output, Version);
        WriteU64(output, (ulong)_tensors.Count);
        WriteU64(output, (ulong)metadata.Count);

        foreach (var (key, value) in metadata)
        {
            WriteString(output, key);
            WriteU32(output, (uint)value.Type);
            WritePayload(output, value);
        }

        long offset = 0;
        foreach (PendingTensor t in _tensors)
        {
            WriteString(output, t.Name);
            WriteU32(output, (uint)t.Dims.Length);
            foreach (long d in t.Dims) WriteU64(output, (ulong)d);
            WriteU32(output, (uint)t.Type);
            WriteU64(output, (ulong)offset);
            offset = AlignUp(offset + t.ByteSize);
        }

        Pad(output);
        foreach (PendingTensor t in _tensors)
        {
            long before = output.Count;
            t.WriteData(output);
            long written = output.Count - before;
            if (written != t.ByteSize)
                throw new QwenSharpException($"tensor {t.Name} wrote {written} bytes, expected {t.ByteSize}");
            Pad(output);
        }
        output.Flush();
    }

    private List<KeyValuePair<string, GgufValue>> MetadataToWrite()
    {
        if (Alignment == GgufConstants.DefaultAlignment || _keys.Contains(GgufConstants.AlignmentKey)) return _metadata;
        // Readers need the alignment before they can find the data, and gguf-py writes it first too.
        return [new(GgufConstants.AlignmentKey, GgufValue.From((uint)Alignment)), .. _metadata];
    }

    private long AlignUp(long position) => (position + Alignment - 1) / Alignment * Alignment;

    private void Pad(GgufCountingStream output)
    {
        long padding = AlignUp(output.Count) - output.Count;
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (padding > 0)
        {
            int n = (int)Math.Min(padding, zeros.Length);
            output.Write(zeros[..n]);
            padding -= n;
        }
    }

    private static void WritePayload(Stream output, GgufValue value)
    {
        switch (value.Value)
        {
            case string s: WriteString(output, s); break;
            case GgufArray array: WriteArray(output, array); break;
            case byte v: output.WriteByte(v); break;
            case sbyte v: output.WriteByte((byte)v); break;
            case bool v: output.WriteByte(v ? (byte)1 : (byte)0); break;
            case ushort v: WriteU16(output, v); break;
            case short v: WriteU16(output, (ushort)v); break;
            case uint v: WriteU32(output, v); break;
            case int v: WriteU32(output, (uint)v); break;
            case float v: WriteU32(output, BitConverter.SingleToUInt32Bits(v)); break;
            case ulong v: WriteU64(output, v); break;
            case long v: WriteU64(output, (ulong)v); break;
            case double v: WriteU64(output, BitConverter.DoubleToUInt64Bits(v)); break;
            default: throw new InvalidOperationException($"unexpected GGUF value {value.Value.GetType().Name}");
        }
    }

    private static void WriteArray(Stream output, GgufArray array)
    {
        WriteU32(output, (uint)array.ElementType);
        WriteU64(output, (ulong)array.Count);
        switch (array.ElementType)
        {
            case GgufValueType.String:
                foreach (string s in array.Strings) WriteString(output, s);
                break;
            case GgufValueType.Array:
                foreach (GgufValue nested in array.Arrays) WritePayload(output, nested);
                break;
            default:
                // Numbers are little-endian in memory here, exactly as GGUF stores them; bools are 0 or 1 bytes.
                output.Write(array.NumericBytes());
                break;
        }
    }

    private static void WriteString(Stream output, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        WriteU64(output, (ulong)bytes.Length);
        output.Write(bytes);
    }

    private static void WriteU16(Stream output, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        output.Write(b);
    }

    private static void WriteU32(Stream output, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        output.Write(b);
    }

    private static void WriteU64(Stream output, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        output.Write(b);
    }
}

using System.Buffers.Binary;
using System.Text.Json;

namespace QwenSharp.Formats;

/// <summary>Writes a .safetensors file: header JSON (tensors in the order added, contiguous data_offsets, padded
/// with spaces to a multiple of 8 bytes as the safetensors library does), then the tensor bytes.</summary>
public sealed class SafetensorsWriter
{
    private sealed record Pending(string Name, string DType, long[] Shape, long ByteSize, Action<Stream> Write);

    private readonly List<Pending> _tensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    public void AddMetadata(string key, string value) => _metadata[key] = value;

    public void Add(string name, string dtype, long[] shape, ReadOnlyMemory<byte> data) =>
        Add(name, dtype, shape, data.Length, s => s.Write(data.Span));

    /// <summary>A tensor whose <paramref name="byteSize"/> bytes <paramref name="write"/> streams out at write time.</summary>
    public void Add(string name, string dtype, long[] shape, long byteSize, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(write);
        if (name == SafetensorsHeader.MetadataKey) throw new QwenSharpException($"'{name}' is reserved in safetensors headers");
        long expected = shape.Aggregate(1L, (a, d) => d >= 0 ? checked(a * d) : throw new QwenSharpException($"tensor {name}: negative dimension"))
            * SafetensorsDType.Size(dtype);
        if (expected != byteSize)
            throw new QwenSharpException($"tensor {name} ({dtype} [{string.Join(", ", shape)}]) needs {expected} bytes, got {byteSize}");
        if (!_names.Add(name)) throw new QwenSharpException($"duplicate tensor name {name}");
        _tensors.Add(new Pending(name, dtype, (long[])shape.Clone(), byteSize, write));
    }

    public byte[] HeaderBytes()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (_metadata.Count > 0)
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (k, v) in _metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType);
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.ByteSize);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.ByteSize;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    public void Write(string path)
    {
        string temp = path + ".partial";
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(file);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new QwenSharpException($"{path}: cannot write: {e.Message}", e);
        }
    }

    public void Write(Stream stream)
    {
        byte[] header = HeaderBytes();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in _tensors)
        {
            long before = stream.CanSeek ? stream.Position : -1;
            t.Write(stream);
            if (before >= 0 && stream.Position - before != t.ByteSize)
                throw new QwenSharpException($"tensor {t.Name}: wrote {stream.Position - before} bytes, declared {t.ByteSize}");
        }
    }
}

using System.Buffers.Binary;

namespace QwenSharp.Formats;

/// <summary>A .safetensors file, memory-mapped read-only. Opening reads and checks the whole header
/// (<see cref="SafetensorsHeader"/>); tensor bytes are then read in place through the mapping and never copied.</summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly FileMapping _map;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private byte* _base;

    public string FilePath { get; }

    public long FileSize { get; }

    /// <summary>Where the data section starts: 8 + the header's length.</summary>
    public long DataOffset { get; }

    /// <summary>Tensors in the header's order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The header's "__metadata__" strings (e.g. "format": "pt").</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, long size, FileMapping map, SafetensorsHeader.Parsed header)
    {
        FilePath = path;
        FileSize = size;
        _map = map;
        _base = map.Base;
        DataOffset = header.DataOffset;
        Tensors = header.Tensors;
        Metadata = header.Metadata;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public static SafetensorsFile Open(string path)
    {
        FileStream stream = FileMapping.OpenStream(path);
        long length;
        SafetensorsHeader.Parsed header;
        try
        {
            length = stream.Length;
            Span<byte> prefix = stackalloc byte[8];
            if (length < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
                throw new ModelFileException(path, $"the file has {length} bytes, fewer than the 8-byte safetensors header length");
            long headerLength = SafetensorsHeader.CheckLength(path, BinaryPrimitives.ReadUInt64LittleEndian(prefix), length);
            var json = new byte[headerLength];
            if (stream.ReadAtLeast(json, json.Length, throwOnEndOfStream: false) < json.Length)
                throw new ModelFileException(path, "the file ended while reading the safetensors header");
            header = SafetensorsHeader.Parse(path, json, length);
        }
        catch (Exception e)
        {
            stream.Dispose();
            if (e is IOException or UnauthorizedAccessException) throw new ModelFileException(path, $"cannot read: {e.Message}", e);
            throw;
        }
        return new SafetensorsFile(path, length, FileMapping.Map(path, stream), header);
    }

    public SafetensorsTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The tensor's first byte inside the mapping; valid until this file is disposed.</summary>
    public byte* GetData(SafetensorsTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (!_byName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException($"tensor {tensor.Name} does not belong to {FilePath}", nameof(tensor));
        return _base + DataOffset + tensor.Offset;
    }

    public ReadOnlySpan<byte> GetSpan(SafetensorsTensorInfo tensor)
    {
        byte* data = GetData(tensor);
        if (tensor.ByteSize > int.MaxValue)
            throw new ModelFileException(FilePath, $"tensor {tensor.Name} has {tensor.ByteSize} bytes, too many for one span");
        return new ReadOnlySpan<byte>(data, (int)tensor.ByteSize);
    }

    public void Dispose()
    {
        _base = null;
        _map.Dispose();
    }

    public override string ToString() => $"{FilePath} (safetensors, {Tensors.Count} tensors)";
}

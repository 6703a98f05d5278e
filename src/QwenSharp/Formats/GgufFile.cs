using System.IO.MemoryMappedFiles;

namespace QwenSharp.Formats;

/// <summary>A GGUF file (version 2 or 3), memory-mapped read-only. Opening validates the header, all metadata and
/// every tensor's placement; tensor bytes are then read in place through the mapping and never copied.</summary>
public sealed unsafe partial class GgufFile : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly GgufLayout _layout;
    private byte* _base;

    public string FilePath { get; }

    public uint Version => _layout.Version;

    public long Alignment => _layout.Alignment;

    /// <summary>Where the data section starts; tensor offsets count from here.</summary>
    public long DataOffset => _layout.DataOffset;

    public long FileSize { get; }

    /// <summary>Looks keys up by name; enumerating (or indexing by position) gives the file's order.</summary>
    public GgufMetadata Metadata => _layout.Metadata;

    public IReadOnlyList<GgufTensorInfo> Tensors => _layout.Tensors;

    private GgufFile(string path, long fileSize, MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* basePtr, GgufLayout layout)
    {
        FilePath = path;
        FileSize = fileSize;
        _mapping = mapping;
        _view = view;
        _base = basePtr;
        _layout = layout;
    }

    public static GgufFile Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ModelFileException(path, $"cannot open: {e.Message}", e);
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            long length = stream.Length;
            // An empty file cannot be mapped, and anything shorter than a header is certainly broken; parse a copy
            // of it so the message says exactly where it ends.
            if (length < GgufConstants.HeaderSize)
            {
                Span<byte> small = stackalloc byte[GgufConstants.HeaderSize];
                int read = stream.ReadAtLeast(small, (int)length, throwOnEndOfStream: false);
                fixed (byte* p = small) GgufParser.Parse(path, p, read);
                throw new ModelFileException(path, "truncated while reading header");
            }

            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            pointerAcquired = true;
            basePtr += view.PointerOffset;

            GgufLayout layout = GgufParser.Parse(path, basePtr, length);
            return new GgufFile(path, length, mapping, view, basePtr, layout);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Release(stream, mapping, view, pointerAcquired);
            throw new ModelFileException(path, $"cannot map: {e.Message}", e);
        }
        catch
        {
            Release(stream, mapping, view, pointerAcquired);
            throw;
        }
    }

    public GgufTensorInfo? FindTensor(string name) => _layout.TensorsByName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) => FindTensor(name)
        ?? throw new ModelFileException(FilePath, $"missing tensor {name}");

    /// <summary>The tensor's first byte inside the mapping; valid until this file is disposed.</summary>
    public byte* GetTensorData(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if ((uint)tensor.Index >= (uint)Tensors.Count || !ReferenceEquals(Tensors[tensor.Index], tensor))
            throw new ArgumentException($"tensor {tensor.Name} does not belong to {FilePath}", nameof(tensor));
        return _base + DataOffset + tensor.Offset;
    }

    /// <summary>The tensor's bytes inside the mapping; valid until this file is disposed.</summary>
    public ReadOnlySpan<byte> GetTensorSpan(GgufTensorInfo tensor)
    {
        byte* data = GetTensorData(tensor);
        if (tensor.ByteSize > int.MaxValue)
            throw new ModelFileException(FilePath, $"tensor {tensor.Name} has {tensor.ByteSize} bytes, too many for one span");
        return new ReadOnlySpan<byte>(data, (int)tensor.ByteSize);
    }

    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        Release(null, _mapping, _view, pointerAcquired: true);
    }

    private static void Release(FileStream? stream, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, bool pointerAcquired)
    {
        if (pointerAcquired) view?.SafeMemoryMappedViewHandle.ReleasePointer();
        view?.Dispose();
        if (mapping != null) mapping.Dispose();
        else stream?.Dispose();
    }

    public override string ToString() => $"{FilePath} (GGUF v{Version}, {Metadata.Count} keys, {Tensors.Count} tensors)";
}

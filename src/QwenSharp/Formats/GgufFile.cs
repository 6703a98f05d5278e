namespace QwenSharp.Formats;

/// <summary>A GGUF file (version 2 or 3), memory-mapped read-only (or copy-on-write for a model load that repacks
/// weights in place; the file is never written). Opening validates the header, all metadata and every tensor's
/// placement; tensor bytes are then read in place through the mapping and never copied.</summary>
public sealed unsafe partial class GgufFile : IDisposable
{
    private readonly FileMapping _map;
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

    private GgufFile(string path, long fileSize, FileMapping map, GgufLayout layout)
    {
        FilePath = path;
        FileSize = fileSize;
        _map = map;
        _base = map.Base;
        _layout = layout;
    }

    public static GgufFile Open(string path) => Open(path, copyOnWrite: false);

    /// <summary>Opens the file mapped copy-on-write when <paramref name="copyOnWrite"/>: a model load may then repack
    /// tensors in place (<see cref="CanRewrite"/>); pages it never writes stay shared with the page cache.</summary>
    internal static GgufFile Open(string path, bool copyOnWrite)
    {
        FileStream stream = FileMapping.OpenStream(path);
        long length;
        try
        {
            length = stream.Length;
            // An empty file cannot be mapped, and anything shorter than a header is certainly broken; parse a copy
            // of it so the message says exactly where it ends.
            if (length < GgufConstants.HeaderSize)
            {
                Span<byte> small = stackalloc byte[GgufConstants.HeaderSize];
                int read = stream.ReadAtLeast(small, (int)length, throwOnEndOfStream: false);
                fixed (byte* p = small) GgufParser.Parse(path, p, read);
                throw new ModelFileException(path, "truncated while reading header");
            }
        }
        catch (Exception e)
        {
            stream.Dispose();
            if (e is IOException or UnauthorizedAccessException) throw new ModelFileException(path, $"cannot read: {e.Message}", e);
            throw;
        }

        var map = FileMapping.Map(path, stream, copyOnWrite);
        try
        {
            return new GgufFile(path, length, map, GgufParser.Parse(path, map.Base, length));
        }
        catch
        {
            map.Dispose();
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

    /// <summary>Whether the file was opened copy-on-write: writes then make private copies of the pages and never
    /// reach the file.</summary>
    public bool CanRewrite(GgufTensorInfo tensor)
    {
        GetTensorData(tensor);   // the same checks: this file's tensor, not disposed
        return _map.CopyOnWrite;
    }

    /// <summary>Private copies, on 2 MiB pages where the system gives them, of the mapping under the ranges a repack
    /// is about to rewrite (<see cref="FileMapping.MakePrivate"/>). A read-only mapping has none of its pages among
    /// rewritable ranges (those are a wrapping source's own buffers), so there is nothing to do.</summary>
    public void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        if (_map.CopyOnWrite) _map.MakePrivate(ranges);
    }

    /// <summary>On Linux, where madvise(MADV_DONTNEED) drops a mapping's pages (the file's stay in the page cache,
    /// private copies are freed).</summary>
    public bool CanRelease => OperatingSystem.IsLinux();

    public void Release(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        foreach (var (start, bytes) in ranges) FileMapping.Release((byte*)start, bytes);
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
        _base = null;
        _map.Dispose();
    }

    public override string ToString() => $"{FilePath} (GGUF v{Version}, {Metadata.Count} keys, {Tensors.Count} tensors)";
}

using System.IO.MemoryMappedFiles;

namespace QwenSharp.Formats;

/// <summary>A whole file mapped read-only with its base pointer acquired: what GGUF and safetensors files read their
/// tensors through. Opening and mapping failures become <see cref="ModelFileException"/>s naming the file.</summary>
internal sealed unsafe class ReadOnlyFileMapping : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;

    /// <summary>The file's first byte; null once disposed.</summary>
    public byte* Base { get; private set; }

    private ReadOnlyFileMapping(MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* basePtr)
    {
        _mapping = mapping;
        _view = view;
        Base = basePtr;
    }

    /// <summary>Opens the file for random-access reading (the caller may read a header from it before mapping).</summary>
    public static FileStream OpenStream(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ModelFileException(path, $"cannot open: {e.Message}", e);
        }
    }

    /// <summary>Maps the whole (non-empty) file. Takes ownership of <paramref name="stream"/>: it is disposed with the
    /// mapping, or here when mapping fails.</summary>
    public static ReadOnlyFileMapping Map(string path, FileStream stream)
    {
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            return new ReadOnlyFileMapping(mapping, view, basePtr + view.PointerOffset);
        }
        catch (Exception e)
        {
            view?.Dispose();
            if (mapping != null) mapping.Dispose();
            else stream.Dispose();
            if (e is IOException or UnauthorizedAccessException) throw new ModelFileException(path, $"cannot map: {e.Message}", e);
            throw;
        }
    }

    public void Dispose()
    {
        if (Base == null) return;
        Base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }
}

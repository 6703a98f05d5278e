using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace QwenSharp.Formats;

/// <summary>A whole file mapped with its base pointer acquired: what GGUF and safetensors files read their tensors
/// through. Read-only, or copy-on-write (<see cref="CopyOnWrite"/>): pages stay the file's shared, cached pages until
/// written, and a written page becomes this process's private copy; the file itself is never written. Opening and
/// mapping failures become <see cref="ModelFileException"/>s naming the file.</summary>
internal sealed unsafe class FileMapping : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;

    /// <summary>The file's first byte; null once disposed.</summary>
    public byte* Base { get; private set; }

    /// <summary>Whether pages may be written (each written page becomes a private copy).</summary>
    public bool CopyOnWrite { get; }

    /// <summary>Bytes mapped: the file's length.</summary>
    public long Length { get; }

    private FileMapping(MemoryMappedFile mapping, MemoryMappedViewAccessor view, byte* basePtr, long length, bool copyOnWrite)
    {
        CopyOnWrite = copyOnWrite;
        Length = length;
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
    public static FileMapping Map(string path, FileStream stream, bool copyOnWrite = false)
    {
        var access = copyOnWrite ? MemoryMappedFileAccess.CopyOnWrite : MemoryMappedFileAccess.Read;
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, access,
                HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, access);
            byte* basePtr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
            basePtr += view.PointerOffset;
            // A file the page cache holds in 2 MiB folios is then mapped one page-table entry per 2 MiB. Which folios
            // it holds is the kernel's choice: here (Linux 6.18, ext4) a file read cold, through a mapping or read(),
            // lands in 2 MiB folios; a file cached as it was written stays in small ones, mapped 4 KiB at a time.
            if (HugePages.Wanted) HugePages.Advise(basePtr, stream.Length);
            return new FileMapping(mapping, view, basePtr, stream.Length, copyOnWrite);
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

    /// <summary>Makes the pages of [p, p + bytes) in a copy-on-write mapping private copies now, in one call
    /// (Linux 5.14+: madvise MADV_POPULATE_WRITE), instead of one write fault per 4 KiB page as a repack touches them:
    /// measured 79 ms instead of 160-193 for 173 MB on this project's VM. Elsewhere, or when the kernel refuses,
    /// nothing happens and the writes fault as before.</summary>
    public static void PopulatePrivate(byte* p, long bytes)
    {
        if (bytes <= 0) return;
        const long Page = 4096;
        long start = (long)p & ~(Page - 1), end = ((long)p + bytes + Page - 1) & ~(Page - 1);
        HugePages.TryMadvise((void*)start, end - start, HugePages.MadvPopulateWrite);
    }

    /// <summary>Makes the pages under <paramref name="ranges"/> (pointers into this copy-on-write mapping) private
    /// copies of the file's bytes before a repack rewrites them, on 2 MiB pages where Linux gives them: each 2 MiB-aligned
    /// window of the mapping that a range touches is replaced by anonymous memory advised MADV_HUGEPAGE, holding the same
    /// bytes (the window's other bytes too, so a neighbouring tensor reads what it read before). Copy-on-write pages of a
    /// file mapping are always 4 KiB. The resident size is what in-place copies would have made it, plus the rest of
    /// the window at each range end. Parts of a range outside whole windows (the mapping's ends), other systems and
    /// QWENSHARP_HUGE_PAGES=0 get <see cref="PopulatePrivate"/>'s 4 KiB copies; a refused mmap throws.</summary>
    public void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        if (!CopyOnWrite) throw new InvalidOperationException("only a copy-on-write mapping can be made private");
        if (!OperatingSystem.IsLinux() || !HugePages.Wanted)
        {
            foreach (var (start, bytes) in ranges) PopulatePrivate((byte*)start, bytes);
            return;
        }
        const long Window = HugePages.Size;
        long windowsFrom = ((long)Base + Window - 1) & ~(Window - 1), windowsTo = ((long)Base + Length) & ~(Window - 1);
        var windows = new SortedSet<long>();
        foreach (var (start, bytes) in ranges)
        {
            long s = start, e = s + bytes;
            long from = Math.Max(s, windowsFrom), to = Math.Min(e, windowsTo);
            if (from >= to)
            {
                PopulatePrivate((byte*)s, bytes);
                continue;
            }
            if (s < from) PopulatePrivate((byte*)s, from - s);
            if (e > to) PopulatePrivate((byte*)to, e - to);
            for (long w = from & ~(Window - 1); w < to; w += Window) windows.Add(w);
        }
        if (windows.Count == 0) return;
        byte[] saved = GC.AllocateUninitializedArray<byte>((int)Window);
        fixed (byte* copy = saved)
            foreach (long w in windows)
            {
                Buffer.MemoryCopy((void*)w, copy, Window, Window);
                ReplaceWithAnonymous((byte*)w);
                Buffer.MemoryCopy(copy, (void*)w, Window, Window);
            }
    }

    /// <summary>Maps fresh anonymous memory, advised MADV_HUGEPAGE, over the 2 MiB window at <paramref name="window"/>.
    /// A refusal (the process's map count at its limit) throws: the window's old pages may already be gone, so the load
    /// must stop here rather than read zeros.</summary>
    private static void ReplaceWithAnonymous(byte* window)
    {
        void* p = Mmap(window, (nuint)HugePages.Size, ProtRead | ProtWrite, MapPrivate | MapFixed | MapAnonymous, -1, 0);
        if (p != window)
            throw new QwenSharpException($"cannot make the model's pages private: mmap failed (errno {Marshal.GetLastPInvokeError()})");
        HugePages.Advise(window, HugePages.Size);
    }

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapFixed = 0x10, MapAnonymous = 0x20;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    public void Dispose()
    {
        if (Base == null) return;
        Base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }
}

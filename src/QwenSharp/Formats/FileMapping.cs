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
            AdviseHugePages(basePtr, stream.Length);
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
        if (!OperatingSystem.IsLinux() || bytes <= 0) return;
        const long Page = 4096;
        long start = (long)p & ~(Page - 1), end = ((long)p + bytes + Page - 1) & ~(Page - 1);
        try
        {
            _ = Madvise((void*)start, (nuint)(end - start), MadvPopulateWrite);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    /// <summary>Asks (Linux: madvise MADV_HUGEPAGE) that the file's pages be read and mapped 2 MiB at a time. A file
    /// the page cache holds in 2 MiB folios is then mapped with one page-table entry per 2 MiB, and a decode streaming
    /// the weights misses the TLB 512 times less: on this project's VM (nested paging makes every miss a two-level
    /// walk) two threads streamed such a mapping at 19-21 GB/s against 16-19 GB/s through 4 KiB pages of the same
    /// file. Which folios the cache holds is the kernel's choice: here (Linux 6.18, ext4) a file read cold, through a
    /// mapping or read(), lands in 2 MiB folios, and a file cached as it was written stays in small ones and is mapped
    /// 4 KiB at a time. The advice asks the fault path for the large ones; elsewhere nothing happens.</summary>
    private static void AdviseHugePages(byte* start, long bytes)
    {
        if (!OperatingSystem.IsLinux() || !HugePagesWanted || bytes < HugePage) return;
        long first = ((long)start + HugePage - 1) & ~(HugePage - 1), end = ((long)start + bytes) & ~(HugePage - 1);
        if (end > first) TryMadvise((byte*)first, end - first, MadvHugePage);
    }

    /// <summary>Makes the pages under <paramref name="ranges"/> (pointers into this copy-on-write mapping) private
    /// copies of the file's bytes before a repack rewrites them, on 2 MiB pages where Linux gives them: each 2 MiB-aligned
    /// window of the mapping that a range touches is replaced by anonymous memory advised MADV_HUGEPAGE, holding the same
    /// bytes (the window's other bytes too, so a neighbouring tensor reads what it read before). Copy-on-write pages of a
    /// file mapping are always 4 KiB; these windows then stream like the bandwidth probe's memory instead of like 4 KiB
    /// pages. The resident size is what in-place copies would have made it, plus at most one window per range end.
    /// Parts of a range outside whole windows (the mapping's ends), other systems, and a kernel that refuses fall back
    /// to <see cref="PopulatePrivate"/>.</summary>
    public void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        if (!CopyOnWrite) throw new InvalidOperationException("only a copy-on-write mapping can be made private");
        long windowsFrom = ((long)Base + HugePage - 1) & ~(HugePage - 1), windowsTo = ((long)Base + Length) & ~(HugePage - 1);
        var windows = new SortedSet<long>();
        foreach (var (start, bytes) in ranges)
        {
            if (bytes <= 0) continue;
            long s = start, e = s + bytes;
            long from = Math.Max(s, windowsFrom), to = Math.Min(e, windowsTo);
            if (!OperatingSystem.IsLinux() || !HugePagesWanted || from >= to)
            {
                PopulatePrivate((byte*)s, bytes);
                continue;
            }
            if (s < from) PopulatePrivate((byte*)s, from - s);
            if (e > to) PopulatePrivate((byte*)to, e - to);
            for (long w = from & ~(HugePage - 1); w < to; w += HugePage) windows.Add(w);
        }
        if (windows.Count == 0) return;
        byte[] saved = GC.AllocateUninitializedArray<byte>((int)HugePage);
        fixed (byte* copy = saved)
            foreach (long w in windows)
            {
                Buffer.MemoryCopy((void*)w, copy, HugePage, HugePage);
                ReplaceWithAnonymous((byte*)w);
                Buffer.MemoryCopy(copy, (void*)w, HugePage, HugePage);
            }
    }

    /// <summary>Maps fresh anonymous memory, advised MADV_HUGEPAGE, over the 2 MiB window at <paramref name="window"/>.
    /// A refusal (the process's map count at its limit) throws: the window's old pages may already be gone, so the load
    /// must stop here rather than read zeros.</summary>
    private void ReplaceWithAnonymous(byte* window)
    {
        void* p = Mmap(window, (nuint)HugePage, ProtRead | ProtWrite, MapPrivate | MapFixed | MapAnonymous, -1, 0);
        if (p != window)
            throw new QwenSharpException($"cannot make the model's pages private: mmap failed (errno {Marshal.GetLastPInvokeError()})");
        TryMadvise(window, HugePage, MadvHugePage);
    }

    private static void TryMadvise(byte* start, long bytes, int advice)
    {
        try
        {
            _ = Madvise(start, (nuint)bytes, advice);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    /// <summary>QWENSHARP_HUGE_PAGES=0 (read at each load) keeps every page 4 KiB: private copies made in place, no
    /// MADV_HUGEPAGE. For measuring what the 2 MiB pages give.</summary>
    private static bool HugePagesWanted => Environment.GetEnvironmentVariable("QWENSHARP_HUGE_PAGES") != "0";

    private const long HugePage = 2 << 20;
    private const int MadvHugePage = 14, MadvPopulateWrite = 23;
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapFixed = 0x10, MapAnonymous = 0x20;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

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

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

    /// <summary>Drops the whole 4 KiB pages inside [p, p + bytes) from this process (madvise MADV_DONTNEED): a private
    /// copy is freed, a file page leaves the resident set (the page cache keeps it). Only for bytes nothing will read
    /// again. Nothing happens elsewhere than Linux.</summary>
    public static void Release(byte* p, long bytes)
    {
        const long Page = 4096;
        long start = ((long)p + Page - 1) & ~(Page - 1), end = ((long)p + bytes) & ~(Page - 1);
        if (end > start) HugePages.TryMadvise((void*)start, end - start, HugePages.MadvDontNeed);
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
    /// the window at each range end. Parts of a range outside whole windows (the mapping's ends), other systems,
    /// QWENSHARP_HUGE_PAGES=0 and windows the kernel will not move (<see cref="MoveInAnonymousCopy"/>) get
    /// <see cref="PopulatePrivate"/>'s 4 KiB copies.</summary>
    public void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        if (!CopyOnWrite) throw new InvalidOperationException("only a copy-on-write mapping can be made private");
        if (!OperatingSystem.IsLinux() || !HugePages.Wanted)
        {
            foreach (var (start, bytes) in ranges) PopulatePrivate((byte*)start, bytes);
            return;
        }
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
        // Runs of consecutive windows, at most RunWindows each, copied on every core.
        var runs = new List<(long Start, int Windows)>();
        foreach (long w in windows)
        {
            if (runs.Count > 0 && runs[^1].Start + runs[^1].Windows * Window == w && runs[^1].Windows < RunWindows)
                runs[^1] = (runs[^1].Start, runs[^1].Windows + 1);
            else
                runs.Add((w, 1));
        }
        Parallel.ForEach(runs, run => MoveInAnonymousCopy((byte*)run.Start, run.Windows * Window));
    }

    /// <summary>The unit <see cref="MakePrivate"/> replaces: one 2 MiB page.</summary>
    private const long Window = HugePages.Size;

    /// <summary>Windows per run that <see cref="MakePrivate"/> copies and moves in at once: 32 MiB of staging memory
    /// per worker at most.</summary>
    private const int RunWindows = 16;

    /// <summary>Replaces the 2 MiB-aligned [start, start + bytes) of the mapping by anonymous memory advised
    /// MADV_HUGEPAGE that holds the same bytes: the bytes are copied once into fresh memory mapped elsewhere, which
    /// mremap then moves over the range (page-table entries move as they are, 2 MiB ones included). It replaced a save,
    /// map over and copy back that read and wrote every byte twice, a window at a time on one thread: warm loads of the
    /// synthetic 0.5B files, five each, two alternating rounds, went q8_0 325-505 -> 172-462 ms (medians 369 -> 222),
    /// q4_0 155-271 -> 95-341 (170 -> 119), q4_k_m 181-220 -> 144-199 (187 -> 151), with the same AnonHugePages.
    /// When the kernel refuses either call the range is left as it was and gets <see cref="PopulatePrivate"/>'s 4 KiB
    /// copies.</summary>
    private static void MoveInAnonymousCopy(byte* start, long bytes)
    {
        byte* staging = (byte*)Mmap(null, (nuint)(bytes + Window), ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (staging == MapFailed)
        {
            PopulatePrivate(start, bytes);
            return;
        }
        // keep the 2 MiB-aligned part, so that the pages it gets are 2 MiB ones and move as such
        byte* aligned = (byte*)(((long)staging + Window - 1) & ~(Window - 1));
        if (aligned > staging) Munmap(staging, (nuint)(aligned - staging));
        long tail = (long)(staging + bytes + Window) - (long)(aligned + bytes);
        if (tail > 0) Munmap(aligned + bytes, (nuint)tail);
        HugePages.Advise(aligned, bytes);
        Buffer.MemoryCopy(start, aligned, bytes, bytes);
        if (Mremap(aligned, (nuint)bytes, (nuint)bytes, MremapMayMove | MremapFixed, start) != start)
        {
            Munmap(aligned, (nuint)bytes);
            PopulatePrivate(start, bytes);
        }
    }

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20, MremapMayMove = 1, MremapFixed = 2;
    private static readonly void* MapFailed = (void*)-1;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Munmap(void* address, nuint length);

    // mremap is variadic (the fifth argument is read only with MREMAP_FIXED); on x86-64 and arm64 Linux a variadic
    // integer argument travels in the same register as a fixed one.
    [DllImport("libc", EntryPoint = "mremap", SetLastError = true)]
    private static extern void* Mremap(void* oldAddress, nuint oldSize, nuint newSize, int flags, void* newAddress);

    public void Dispose()
    {
        if (Base == null) return;
        Base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }
}

using System.Globalization;
using System.Runtime.InteropServices;

namespace QwenSharp.Bench;

/// <summary>The page cache's hold on a model file, which both runtimes map. On this machine's kernel (Linux 6.18,
/// ext4) a file read cold, by a mapping's faults or by read(), lands in 2 MiB folios, and every process that maps it
/// aligned, llama.cpp included, then maps it 2 MiB at a time; a file the cache took as it was written (the quantizer's
/// output) stays in small folios and is mapped 4 KiB at a time, by both. That moves a decode by up to a tenth on this
/// VM, so the comparison states the cache it starts from (<see cref="Evict"/>) and reports what each runtime got
/// (<see cref="MappedOnHugePages"/>).</summary>
internal static class PageCache
{
    /// <summary>Drops the file's clean, unmapped pages from the page cache (posix_fadvise DONTNEED), so the next
    /// reader reads it from disk, as after a reboot. False off Linux or when the call fails.</summary>
    public static bool Evict(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        try
        {
            return PosixFadvise((int)handle.DangerousGetHandle(), 0, 0, FadviseDontNeed) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Each mapping of <paramref name="path"/> in this process, in address order: its resident file bytes
    /// (Rss) and how many of them are mapped 2 MiB at a time (FilePmdMapped), from /proc/self/smaps. Empty off Linux.
    /// QwenSharp's repacked windows are anonymous memory by then and are not counted here.</summary>
    public static IReadOnlyList<(long Resident, long OnHugePages)> MappedOnHugePages(string path)
    {
        var found = new List<(long, long)>();
        if (!File.Exists("/proc/self/smaps")) return found;
        string full = Path.GetFullPath(path);
        bool inFile = false;
        long rss = 0;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                inFile = line.EndsWith(" " + full, StringComparison.Ordinal);
            else if (inFile && line.StartsWith("Rss:", StringComparison.Ordinal))
                rss = KiB(line) * 1024;
            else if (inFile && line.StartsWith("FilePmdMapped:", StringComparison.Ordinal))
                found.Add((rss, KiB(line) * 1024));
        }
        return found;
    }

    /// <summary>This process's anonymous memory on 2 MiB pages (AnonHugePages of /proc/self/smaps_rollup), 0 off Linux.</summary>
    public static long AnonymousOnHugePages()
    {
        const string rollup = "/proc/self/smaps_rollup";
        if (!File.Exists(rollup)) return 0;
        foreach (string line in File.ReadLines(rollup))
            if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal)) return KiB(line) * 1024;
        return 0;
    }

    private static long KiB(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private const int FadviseDontNeed = 4;

    [DllImport("libc", EntryPoint = "posix_fadvise")]
    private static extern int PosixFadvise(int fd, long offset, long length, int advice);
}

using System.Diagnostics;

namespace QwenSharp.Cli.Bench;

/// <summary>Resident memory of this process, from the kernel's own accounting (/proc/self/status on Linux: VmRSS
/// now, VmHWM the peak so far; both count touched pages of memory-mapped model files). Elsewhere .NET's
/// Process.WorkingSet64 / PeakWorkingSet64 stand in.</summary>
internal static class ProcessMemory
{
    private const string StatusFile = "/proc/self/status";

    /// <summary>Peak resident set size in bytes (VmHWM).</summary>
    public static long PeakRssBytes() => ReadStatusKiB("VmHWM:") is long kib ? kib * 1024 : Current().PeakWorkingSet64;

    /// <summary>Resident set size now in bytes (VmRSS).</summary>
    public static long RssBytes() => ReadStatusKiB("VmRSS:") is long kib ? kib * 1024 : Current().WorkingSet64;

    /// <summary>Where the numbers come from, for the report.</summary>
    public static string Source => File.Exists(StatusFile) ? "VmHWM in /proc/self/status" : "Process.PeakWorkingSet64";

    private static Process Current()
    {
        var p = Process.GetCurrentProcess();
        p.Refresh();
        return p;
    }

    /// <summary>The value of a "Key:   1234 kB" line, or null when the file or line is missing.</summary>
    internal static long? ReadStatusKiB(string key)
    {
        if (!File.Exists(StatusFile)) return null;
        foreach (string line in File.ReadLines(StatusFile))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 0 && long.TryParse(parts[0], out long kib) ? kib : null;
        }
        return null;
    }
}

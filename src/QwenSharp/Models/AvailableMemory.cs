namespace QwenSharp.Models;

/// <summary>How much RAM this process can still take, and the check that refuses a load or context that would not
/// fit, before anything is allocated (an OutOfMemory, or the OOM killer, halfway through a load is the alternative).</summary>
public static class AvailableMemory
{
    /// <summary>The smallest of: the kernel's MemAvailable (/proc/meminfo: free RAM plus reclaimable cache), the
    /// cgroup's limit minus its usage (containers), and .NET's view of the memory it may use (GC limit, which honours
    /// DOTNET_GCHeapHardLimit and the cgroup). Null when none can be read.</summary>
    public static long? Detect()
    {
        long? best = null;
        void Take(long? v)
        {
            if (v is > 0) best = best is null ? v : Math.Min(best.Value, v.Value);
        }
        Take(MemInfoAvailable());
        Take(CgroupHeadroom());
        long gcTotal = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (gcTotal > 0) Take(gcTotal - GC.GetTotalMemory(false));
        return best;
    }

    /// <summary>Throws when <paramref name="neededBytes"/> exceeds the available memory (<paramref name="availableBytes"/>
    /// when given, else <see cref="Detect"/>; nothing is checked when neither is known).</summary>
    public static void Require(long neededBytes, string what, string advice, long? availableBytes = null)
    {
        long? available = availableBytes ?? Detect();
        if (available is long a && neededBytes > a)
            throw new NotEnoughMemoryException(
                $"not enough memory for {what}: needs {MemoryPlan.FormatBytes(neededBytes)}, {MemoryPlan.FormatBytes(a)} available. {advice}",
                neededBytes, a);
    }

    private static long? MemInfoAvailable()
    {
        try
        {
            if (!File.Exists("/proc/meminfo")) return null;
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], out long kib) ? kib * 1024 : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>cgroup v2 (memory.max − memory.current) or v1 (limit_in_bytes − usage_in_bytes); null when unlimited.</summary>
    private static long? CgroupHeadroom()
    {
        return Headroom("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")
               ?? Headroom("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes");

        static long? Headroom(string limitPath, string usagePath)
        {
            try
            {
                if (!File.Exists(limitPath) || !File.Exists(usagePath)) return null;
                string limit = File.ReadAllText(limitPath).Trim();
                if (limit == "max" || !long.TryParse(limit, out long l) || l >= 1L << 60) return null;
                return long.TryParse(File.ReadAllText(usagePath).Trim(), out long u) ? l - u : null;
            }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
        }
    }
}

/// <summary>A model or context would not fit in the memory available: raised before anything is allocated.</summary>
public sealed class NotEnoughMemoryException(string message, long neededBytes, long availableBytes) : QwenSharpException(message)
{
    public long NeededBytes { get; } = neededBytes;
    public long AvailableBytes { get; } = availableBytes;
}

using System.Runtime.InteropServices;

namespace QwenSharp.Formats;

/// <summary>2 MiB pages on Linux (transparent huge pages, madvise MADV_HUGEPAGE): the one place that asks for them,
/// for the model's mapping and repacked windows (<see cref="FileMapping"/>) and for the buffers the benchmarks stream
/// (the bandwidth probe must measure the memory the weights sit on). On this project's VM (nested paging: every TLB
/// miss is a two-level walk) two threads streamed 19-21 GB/s from 2 MiB pages against 16-19 GB/s through 4 KiB pages
/// (a throwaway C program, 12 alternating rounds of 256 MB). Elsewhere every call does nothing.</summary>
internal static unsafe class HugePages
{
    public const long Size = 2 << 20;

    /// <summary>False when QWENSHARP_HUGE_PAGES=0 (read at each call): model loads then keep every page 4 KiB, for
    /// measuring what the 2 MiB pages give.</summary>
    public static bool Wanted => Environment.GetEnvironmentVariable("QWENSHARP_HUGE_PAGES") != "0";

    /// <summary>Advises the whole 2 MiB windows inside [start, start + bytes); call before the first touch.</summary>
    public static void Advise(void* start, long bytes)
    {
        long first = ((long)start + Size - 1) & ~(Size - 1), end = ((long)start + bytes) & ~(Size - 1);
        if (end > first) TryMadvise((void*)first, end - first, MadvHugePage);
    }

    /// <summary>Native memory aligned to 2 MiB and advised before anything touches it; free with NativeMemory.AlignedFree.</summary>
    public static void* Allocate(long bytes)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)bytes, (nuint)Size);
        Advise(p, bytes);
        return p;
    }

    /// <summary>madvise, ignoring a refusal and a libc without it; nothing off Linux.</summary>
    internal static void TryMadvise(void* start, long bytes, int advice)
    {
        if (!OperatingSystem.IsLinux() || bytes <= 0) return;
        try
        {
            _ = Madvise(start, (nuint)bytes, advice);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    internal const int MadvDontNeed = 4, MadvHugePage = 14, MadvPopulateWrite = 23;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);
}

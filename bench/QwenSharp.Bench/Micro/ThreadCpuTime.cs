using System.Runtime.InteropServices;

namespace QwenSharp.Bench.Micro;

/// <summary>CPU time of the calling thread (Linux clock_gettime CLOCK_THREAD_CPUTIME_ID): what the kernel
/// microbenchmarks time, so that other processes on a shared machine cost them little.</summary>
internal static class ThreadCpuTime
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds, Nanoseconds;
    }

    private const int ThreadCpuTimeClock = 3;   // CLOCK_THREAD_CPUTIME_ID

#pragma warning disable SYSLIB1054   // a benchmark-only call; DllImport keeps it free of source generation
    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
#pragma warning restore SYSLIB1054

    public static double Seconds()
    {
        ClockGetTime(ThreadCpuTimeClock, out var t);
        return t.Seconds + t.Nanoseconds * 1e-9;
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace QwenSharp.Bench;

/// <summary>What the report says about where it ran: on a shared machine the load average matters as much as the CPU.</summary>
internal static class MachineInfo
{
    public static string CpuModel()
    {
        const string cpuinfo = "/proc/cpuinfo";
        if (File.Exists(cpuinfo))
            foreach (string line in File.ReadLines(cpuinfo))
                if (line.StartsWith("model name", StringComparison.Ordinal))
                    return line[(line.IndexOf(':') + 1)..].Trim();
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    /// <summary>The 1/5/15-minute load averages, or "n/a" off Linux.</summary>
    public static string LoadAverage()
    {
        const string loadavg = "/proc/loadavg";
        return File.Exists(loadavg) ? string.Join(" ", File.ReadAllText(loadavg).Split(' ').Take(3)) : "n/a";
    }

    public static string Simd() =>
        Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";

    public static string Describe() =>
        $"{CpuModel()}, {Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription} ({Simd()})";
}

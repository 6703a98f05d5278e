using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>Whether a fused multiply-add with a subnormal input is slow on this CPU, measured once (a few
/// microseconds; milliseconds where it is slow). On the Intel Xeon of the project's earlier sessions such an FMA took a
/// microcode assist (an F16 matvec at 0.24 % subnormal weights ran 2.6× slower), so the F16 decode kernels send the
/// chunks that hold a subnormal half down an exact path that avoids them. On the AMD EPYC (Zen 5) of 2026-11-27
/// evening the same FMA ran at full speed (a C loop of eight FMA chains: 3.59 ns per eight, subnormal or normal
/// input), and the check alone cost the f16 model 14-17 % of tg64 whenever the memory bus was free.</summary>
internal static class SubnormalFma
{
    public static bool IsSlow { get; } = Measure();

    /// <summary>Slow when the best of five runs with a subnormal input takes more than twice the best of five with a
    /// normal one: an assist costs on the order of a hundred cycles per FMA, so the two cases are far apart, and the
    /// best of five keeps a descheduled run out of the comparison.</summary>
    private static bool Measure()
    {
        if (!Fma.IsSupported) return true;   // no FMA here: no fast F16 kernel either, so nothing to decide
        long normal = long.MaxValue, subnormal = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            normal = Math.Min(normal, Time(1e-3f));
            subnormal = Math.Min(subnormal, Time(1e-40f));
        }
        return subnormal > 2 * normal;
    }

    /// <summary>Stopwatch ticks for 32,768 FMAs in eight independent chains, w·2^112 + acc: the input w as given, the
    /// products normal either way (as in the F16 kernels, where w·2^-112 meets a·2^112).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long Time(float w)
    {
        var vw = Vector256.Create(w);
        var x = Vector256.Create(5.192297e33f);   // 2^112
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < 4096; i++)
        {
            a0 = Fma.MultiplyAdd(vw, x, a0); a1 = Fma.MultiplyAdd(vw, x, a1);
            a2 = Fma.MultiplyAdd(vw, x, a2); a3 = Fma.MultiplyAdd(vw, x, a3);
            a4 = Fma.MultiplyAdd(vw, x, a4); a5 = Fma.MultiplyAdd(vw, x, a5);
            a6 = Fma.MultiplyAdd(vw, x, a6); a7 = Fma.MultiplyAdd(vw, x, a7);
        }
        long ticks = Stopwatch.GetTimestamp() - start;
        Sink = ((a0 + a1) + (a2 + a3) + ((a4 + a5) + (a6 + a7))).GetElement(0);   // keeps the chains alive
        return ticks;
    }

    private static float Sink;
}

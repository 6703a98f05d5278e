using System.Diagnostics;

namespace QwenSharp.Models;

/// <summary>Wall time per phase of the forward pass, for finding where prompt processing and decoding spend their
/// time. Off unless QWENSHARP_PROFILE=1 is set when the process starts; then the totals are printed to stderr at
/// exit. When off, every call is a test of one static readonly flag, which the JIT removes.</summary>
internal static class ForwardProfile
{
    public enum Phase { Embed, Norm, Quantize, MatMulQkv, BiasRopeStore, Attention, QkvAttention, MatMulO, Residual, MatMulGateUp, SwiGlu, MatMulDown, Moe, Output, Count }

    public static readonly bool Enabled = Environment.GetEnvironmentVariable("QWENSHARP_PROFILE") == "1";
    private static readonly long[] Ticks = new long[(int)Phase.Count];
    private static long _calls, _tokens;

    static ForwardProfile()
    {
        if (Enabled) AppDomain.CurrentDomain.ProcessExit += (_, _) => Print(Console.Error);
    }

    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="phase"/> and returns a new start.</summary>
    public static long Stop(Phase phase, long start)
    {
        if (!Enabled) return 0;
        long now = Stopwatch.GetTimestamp();
        Ticks[(int)phase] += now - start;
        return now;
    }

    public static void CountCall(int tokens)
    {
        if (!Enabled) return;
        _calls++;
        _tokens += tokens;
    }

    private static void Print(TextWriter o)
    {
        long total = 0;
        foreach (long t in Ticks) total += t;
        o.WriteLine($"forward profile: {_calls} calls, {_tokens} tokens, {total * 1000.0 / Stopwatch.Frequency:F1} ms");
        for (int i = 0; i < (int)Phase.Count; i++)
            o.WriteLine($"  {(Phase)i,-14} {Ticks[i] * 1000.0 / Stopwatch.Frequency,10:F1} ms {100.0 * Ticks[i] / Math.Max(1, total),6:F1} %");
    }
}

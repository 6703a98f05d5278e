using System.Diagnostics;
using QwenSharp.Cli.Bench;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro decode-trace`): where a decode step's time goes around the kernels. Decodes
/// QWEN_BENCH_TRACE_TOKENS (128) tokens from position 0 on QWEN_BENCH_TRACE_MODEL (default: the comparison's q4_k_m
/// 0.5B file) with QWEN_BENCH_THREADS (2) threads under a <see cref="PoolTrace"/>, then prints per kind of pool run
/// (its place in a layer) the medians of: the run's span (open to close), each thread's part, how late each worker
/// joined, how long a thread waited at the end for the others, the close after the last part ended, and the calling
/// thread's work alone before the run (norms, residual adds, SwiGLU...); and per token, the sums. Also one two-thread
/// bandwidth probe and a cache-line ping-pong, so the reader can tell the machine's state (on this project's VM:
/// ~40 ns one way with both vCPUs on one CCD, ~200 ns across two).</summary>
internal static class DecodeTraceBenchmark
{
    public static void Run(TextWriter output)
    {
        string path = Environment.GetEnvironmentVariable("QWEN_BENCH_TRACE_MODEL") is { Length: > 0 } p ? p
            : Path.Combine(Program.DefaultDirectory(), "synthetic-qwen1.5-0.5b-v1-q4_k_m.gguf");
        if (!File.Exists(path))
        {
            output.WriteLine($"no model at {path}: set QWEN_BENCH_TRACE_MODEL, or run the comparison once to write the bench models");
            return;
        }
        int tokens = Math.Max(8, int.TryParse(Environment.GetEnvironmentVariable("QWEN_BENCH_TRACE_TOKENS"), out int n) ? n : 128);
        int threads = Math.Max(1, int.TryParse(Environment.GetEnvironmentVariable("QWEN_BENCH_THREADS"), out int t) ? t : 2);
        using var model = Qwen2Model.Load(path, new ModelLoadOptions { DecodeThreads = threads });
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = tokens + 8, Threads = threads });
        var step = new BatchEntry[1];
        double Decode(int count)
        {
            ctx.Cache.Clear(0);
            int token = 1000;
            long start = Stopwatch.GetTimestamp();
            for (int pos = 0; pos < count; pos++)
            {
                step[0] = new BatchEntry(token, pos, 0, true);
                ctx.Decode(step);
                token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(ctx.Logits(0));
            }
            return count / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        for (int warm = 0; warm < 3; warm++) Decode(tokens);   // JIT (tier 1 comes after some 30 calls and a delay), page faults
        var trace = new PoolTrace(threads, 400 * tokens + 1024);
        PoolTrace.Active = trace;
        double tps;
        try
        {
            tps = Decode(tokens);
        }
        finally
        {
            PoolTrace.Active = null;
        }
        double gbps;
        using (var probe = new MemoryBandwidth.Probe(threads, 1L << 30)) gbps = probe.Measure(passes: 2).GBps;
        output.WriteLine($"{Path.GetFileName(path)}: tg{tokens} {tps:F1} t/s, {threads} threads; bandwidth probe {gbps:F1} GB/s; " +
                         $"cache-line ping-pong {PingPongNanoseconds():F0} ns one way");
        Report(trace, tokens, model.Config.LayerCount, output);
    }

    private static void Report(PoolTrace trace, int tokens, int layers, TextWriter output)
    {
        int runs = trace.Runs, threads = trace.Threads;
        if (runs == 0 || runs % tokens != 0)
        {
            output.WriteLine($"{runs} runs traced over {tokens} tokens: not a whole number per token (trace full?)");
            return;
        }
        int perToken = runs / tokens, perLayer = (perToken - 1) % layers == 0 ? (perToken - 1) / layers : 0;
        double Us(long ticks) => ticks * 1e6 / Stopwatch.Frequency;
        var kinds = new Dictionary<string, List<double[]>>();
        var order = new List<string>();
        for (int r = 0; r < runs; r++)
        {
            var (job, open, close) = trace.Run(r);
            int place = r % perToken;
            string kind = place == perToken - 1 ? "last" : perLayer > 0 ? $"layer run {place % perLayer}" : $"run {place}";
            kind += $" ({job.Name})";
            long lastEnd = 0;
            for (int th = 0; th < threads; th++) lastEnd = Math.Max(lastEnd, trace.Thread(r, th).End);
            var (mainStart, mainEnd) = trace.Thread(r, 0);
            double lag = 0, workerPart = 0, workerIdle = 0;
            int joined = 0;
            for (int th = 1; th < threads; th++)
            {
                var (s, e) = trace.Thread(r, th);
                if (s == 0) continue;
                joined++;
                lag += Us(s - open); workerPart += Us(e - s); workerIdle += Us(lastEnd - e);
            }
            double gap = r > 0 ? Us(open - trace.Run(r - 1).Close) : 0;
            var row = new[]
            {
                Us(close - open), Us(mainEnd - mainStart), joined > 0 ? workerPart / joined : 0, joined > 0 ? lag / joined : 0,
                Us(lastEnd - mainEnd), joined > 0 ? workerIdle / joined : 0, Us(close - lastEnd), gap, joined,
            };
            if (!kinds.TryGetValue(kind, out var list)) { kinds[kind] = list = []; order.Add(kind); }
            list.Add(row);
        }
        string[] names = ["span", "caller part", "worker part", "worker join lag", "caller idle at end", "worker idle at end", "close", "caller alone before"];
        output.WriteLine($"{perToken} runs per token; medians per run in µs, then sums per token in µs");
        double total = 0, alone = 0;
        foreach (string kind in order)
        {
            var list = kinds[kind];
            double Median(int i) { var v = list.Select(x => x[i]).OrderBy(x => x).ToList(); return v[v.Count / 2]; }
            double perTok(int i) => list.Sum(x => x[i]) / tokens;
            total += perTok(0); alone += perTok(7);
            output.WriteLine($"  {kind,-32} x{list.Count / tokens,-3} " + string.Join(", ", names.Select((name, i) => $"{name} {Median(i):F2}")) +
                             $" | per token: span {perTok(0):F0}, alone before {perTok(7):F0}; worker joined {list.Average(x => x[8]) / Math.Max(1, threads - 1) * 100:F0} % of runs");
        }
        output.WriteLine($"  per token: runs {total:F0} µs, the caller alone between runs {alone:F0} µs");
    }

    /// <summary>One-way latency of a cache line bounced between two threads (best of three rounds of 20,000).</summary>
    internal static double PingPongNanoseconds()
    {
        var line = new long[32];
        const int Trips = 20_000;
        double best = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            Volatile.Write(ref line[8], 0);
            var other = new Thread(() =>
            {
                for (long i = 1; i < 2 * Trips; i += 2)
                {
                    while (Volatile.Read(ref line[8]) != i) { }
                    Volatile.Write(ref line[8], i + 1);
                }
            });
            other.Start();
            long start = Stopwatch.GetTimestamp();
            for (long i = 0; i < 2 * Trips; i += 2)
            {
                while (Volatile.Read(ref line[8]) != i) { }
                Volatile.Write(ref line[8], i + 1);
            }
            while (Volatile.Read(ref line[8]) != 2 * Trips) { }
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalNanoseconds / (2.0 * Trips));
            other.Join();
        }
        return best;
    }
}

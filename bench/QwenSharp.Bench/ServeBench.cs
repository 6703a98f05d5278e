using System.CommandLine;
using System.Diagnostics;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Bench;

/// <summary>`bench serve`: total generated tokens/s of the batch scheduler with 1, 4, 8... concurrent streams on one
/// model (the 0.5B-shaped Q8_0 file by default). Each stream is an independent request with its own prompt and
/// seed; the clock runs from the first submit to the last token, so prompt processing is included.</summary>
internal static class ServeBench
{
    public static Command Create(Func<string> defaultDirectory)
    {
        var model = new Option<string>("--model") { Description = "GGUF file (default: the bench cache's synthetic-qwen1.5-0.5b-v1-q8_0.gguf)" };
        var streams = new Option<string>("--streams") { Description = "Comma-separated concurrent stream counts", DefaultValueFactory = _ => "1,4,8" };
        var gen = new Option<int>("-n", "--n-gen") { Description = "Tokens generated per stream", DefaultValueFactory = _ => 64 };
        var reps = new Option<int>("--reps", "-r") { Description = "Timed repetitions per stream count (best is reported)", DefaultValueFactory = _ => 2 };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: physical cores)" };
        var cmd = new Command("serve", "Tokens/s of continuous batching at several concurrent streams") { model, streams, gen, reps, threads };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(model) is { Length: > 0 } m ? m : Path.Combine(defaultDirectory(), "synthetic-qwen1.5-0.5b-v1-q8_0.gguf");
            int[] counts = r.GetValue(streams)!.Split(',').Select(s => int.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Run(path, counts, r.GetValue(gen), Math.Max(1, r.GetValue(reps)), r.GetValue(threads));
            return 0;
        });
        return cmd;
    }

    private static void Run(string path, int[] counts, int tokens, int reps, int threads)
    {
        using var model = Qwen2Model.Load(path, new ModelLoadOptions { DecodeThreads = threads });
        Console.WriteLine($"model: {Path.GetFileName(path)}, {tokens} tokens per stream, best of {reps}, threads {(threads > 0 ? threads : Tensors.ComputePool.DefaultThreadCount)}, load average at start {LoadAverage()}");
        // One scheduler per stream count, all alive at once, so that reps can alternate between the counts and
        // machine noise (other processes) hits every row alike.
        var schedulers = counts.Select(n => new BatchScheduler(model, new BatchSchedulerOptions
        {
            Parallel = n, MaxQueue = 0, ContextLength = 512, MaxBatch = Math.Max(64, n), Threads = threads,
        })).ToArray();
        try
        {
            for (int i = 0; i < counts.Length; i++) Once(schedulers[i], model, counts[i], 4, seedBase: 0); // warm-up: JIT, page-in
            var best = counts.Select(_ => double.MaxValue).ToArray();
            var steps = new long[counts.Length];
            for (int rep = 0; rep < reps; rep++)
                for (int i = 0; i < counts.Length; i++)
                {
                    long before = schedulers[i].Metrics.StepsTotal;
                    double seconds = Once(schedulers[i], model, counts[i], tokens, seedBase: 100 * (rep + 1));
                    Console.Error.WriteLine($"  rep {rep + 1}, {counts[i]} streams: {counts[i] * tokens / seconds:F1} tok/s");
                    if (seconds < best[i]) { best[i] = seconds; steps[i] = schedulers[i].Metrics.StepsTotal - before; }
                }
            Console.WriteLine($"load average at end {LoadAverage()}");
            Console.WriteLine();
            Console.WriteLine("| streams | total tokens/s | per stream tokens/s | vs first row | wall s | forward passes |");
            Console.WriteLine("|--:|--:|--:|--:|--:|--:|");
            double first = counts[0] * tokens / best[0];
            for (int i = 0; i < counts.Length; i++)
            {
                double total = counts[i] * tokens / best[i];
                Console.WriteLine($"| {counts[i]} | {total:F1} | {total / counts[i]:F1} | {total / first:F2}x | {best[i]:F2} | {steps[i]} |");
            }
        }
        finally
        {
            foreach (var s in schedulers) s.Dispose();
        }
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>Submits n requests at once and waits for all; returns the wall seconds.</summary>
    private static double Once(BatchScheduler scheduler, Qwen2Model model, int n, int tokens, int seedBase)
    {
        var clock = Stopwatch.StartNew();
        var handles = Enumerable.Range(0, n).Select(i => scheduler.Submit(new GenerationRequest(
            model.Tokenizer.Encode($"Stream {seedBase + i}: tell me something about the number {i * 7 + 3}."),
            new GenerationOptions
            {
                Sampling = new SamplingOptions { Seed = (ulong)(seedBase + i) }, MaxTokens = tokens, StopOnEndTokens = false,
            }))).ToArray();
        var results = Task.WhenAll(handles.Select(h => h.WaitAsync())).GetAwaiter().GetResult();
        clock.Stop();
        if (results.Any(r => r.GeneratedTokens != tokens)) throw new QwenSharpException("a stream ended early");
        return clock.Elapsed.TotalSeconds;
    }
}

using System.CommandLine;
using QwenSharp.Tensors;

namespace QwenSharp.Bench;

/// <summary>QwenSharp vs llama.cpp on the same files, in one process, reps alternating between the two so that
/// machine noise (other processes, turbo, thermal) hits both alike. Prints a markdown report on stdout, progress on
/// stderr.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var types = new Option<string>("--types") { Description = $"Comma-separated weight types (default {BenchType.Default}; known: {string.Join(",", BenchType.All.Select(t => t.Name))})", DefaultValueFactory = _ => BenchType.Default };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads for both runtimes (default: physical cores)" };
        var prompt = new Option<int>("-p", "--n-prompt") { Description = "Prompt tokens (pp test)", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("-n", "--n-gen") { Description = "Generated tokens (tg test)", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("-d", "--n-depth") { Description = "Tokens already in the KV cache when each test starts, as llama-bench's -d (default 0)", DefaultValueFactory = _ => 0 };
        var reps = new Option<int>("--reps", "-r") { Description = "Timed repetitions per test and runtime", DefaultValueFactory = _ => 3 };
        var dir = new Option<string>("--dir") { Description = "Where the model files are cached (default $QWEN_HOME/bench or ~/.cache/qwensharp/bench)" };
        var flash = new Option<bool>("--flash-attn") { Description = "Turn llama.cpp's flash attention on (default off, as QwenSharp has none)" };
        var shape = new Option<string>("--shape") { Description = "Model shape: 0.5b (dense, default) or moe-2layer (Qwen1.5-MoE-A2.7B widths, 2 layers)", DefaultValueFactory = _ => "0.5b" };
        var keep = new Option<bool>("--keep-source") { Description = "Keep the F32 source model (~1.9 GB) after quantizing" };
        var warmCache = new Option<bool>("--warm-cache") { Description = "Keep each model file's page cache as found (default: evict it before the type runs, so it is read in again as after a reboot: in 2 MiB folios on Linux 6.18, where a file cached as it was written has small ones)" };
        var root = new RootCommand("Benchmark QwenSharp against llama.cpp on synthetic Qwen1.5-0.5B-shaped models")
        {
            types, threads, prompt, gen, depth, reps, dir, flash, keep, shape, warmCache,
        };
        root.Subcommands.Add(TokenizerBench.Create());
        root.Subcommands.Add(ServeBench.Create(DefaultDirectory));
        root.Subcommands.Add(Micro.MicroBench.Create());
        root.SetAction(r =>
        {
            var settings = new ComparisonSettings(
                Types: BenchType.Parse(r.GetValue(types)!),
                Threads: r.GetValue(threads) is > 0 and var t ? t : ComputePool.DefaultThreadCount,
                PromptTokens: AtLeastOne(r.GetValue(prompt), "-p"),
                GenTokens: AtLeastOne(r.GetValue(gen), "-n"),
                Reps: AtLeastOne(r.GetValue(reps), "--reps"),
                Directory: r.GetValue(dir) is { Length: > 0 } d ? d : DefaultDirectory(),
                FlashAttention: r.GetValue(flash),
                KeepSource: r.GetValue(keep),
                Shape: BenchShape.Parse(r.GetValue(shape)!),
                WarmCache: r.GetValue(warmCache),
                Depth: r.GetValue(depth) >= 0 ? r.GetValue(depth) : throw new QwenSharpException($"-d must be 0 or more, got {r.GetValue(depth)}"),
                CommandLine: "dotnet run --project bench/QwenSharp.Bench -c Release --" + string.Concat(args.Select(a => " " + a)));
            _ = settings.ContextLength;   // a sum past the largest context fails here, before any model is made
            var comparison = new Comparison(settings, Console.Error);
            var report = comparison.Run();
            ComparisonReport.Write(report, Console.Out);
            return 0;
        });
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine("bench: " + parsed.Errors[0].Message);
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is QwenSharpException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("bench: " + e.Message.ReplaceLineEndings(" "));
            return 1;
        }
    }

    private static int AtLeastOne(int value, string name) =>
        value >= 1 ? value : throw new QwenSharpException($"{name} must be at least 1, got {value}");

    internal static string DefaultDirectory()
    {
        string home = Environment.GetEnvironmentVariable("QWEN_HOME") is { Length: > 0 } h
            ? h : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "qwensharp");
        return Path.Combine(home, "bench");
    }
}

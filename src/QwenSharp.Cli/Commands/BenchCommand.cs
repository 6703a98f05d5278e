using System.CommandLine;
using System.Text.Json;
using QwenSharp.Cli.Bench;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen bench MODEL`: llama-bench's two tests (pp = prompt processing, tg = text generation) on one model,
/// plus peak memory and how close decoding comes to the machine's memory-bandwidth bound.</summary>
internal static class BenchCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, or `demo`" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (default: physical cores)" };
        var prompt = new Option<int>("-p", "--n-prompt") { Description = "Prompt tokens processed in one batch (pp test)", DefaultValueFactory = _ => 512 };
        var gen = new Option<int>("-n", "--n-gen") { Description = "Tokens generated one at a time (tg test)", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("-d", "--n-depth") { Description = "Tokens already in the KV cache when each test starts (llama-bench's -d; default 0)", DefaultValueFactory = _ => 0 };
        var reps = new Option<int>("--reps", "-r") { Description = "Timed repetitions of each test (after one warm-up)", DefaultValueFactory = _ => 5 };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache element type: f16 or f32 (default f16)", DefaultValueFactory = _ => "f16" };
        var bandwidthMiB = new Option<int>("--bandwidth-mib") { Description = "Buffer of the memory-bandwidth probe in MiB; far larger than the L3 cache (default 1024)", DefaultValueFactory = _ => 1024 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var noRepack = RuntimeOptions.NoRepackOption();
        var cmd = new Command("bench", "Measure prompt-processing and generation speed (llama-bench style), peak memory and memory-bandwidth use")
        {
            model, threads, prompt, gen, depth, reps, kvType, bandwidthMiB, json, noRepack,
        };
        cmd.SetAction(r =>
        {
            var settings = new BenchSettings(
                Threads: Positive(r.GetValue(threads), "--threads", allowZero: true),
                PromptTokens: Positive(r.GetValue(prompt), "-p"),
                GenTokens: Positive(r.GetValue(gen), "-n"),
                Depth: Positive(r.GetValue(depth), "-d", allowZero: true),
                Reps: Positive(r.GetValue(reps), "--reps"),
                KvType: r.GetValue(kvType)?.ToLowerInvariant() switch
                {
                    "f16" or null => KvCacheType.F16,
                    "f32" => KvCacheType.F32,
                    var other => throw new QwenSharpException($"--kv-type must be f16 or f32, got '{other}'"),
                },
                BandwidthBytes: (long)Positive(r.GetValue(bandwidthMiB), "--bandwidth-mib") << 20);
            _ = settings.ContextLength;   // a sum past the largest context fails here, before the model loads
            using var m = ModelLocator.Load(r.GetValue(model)!, io, new ModelLoadOptions { RepackWeights = !r.GetValue(noRepack) });
            var report = Measure(m, settings);
            if (r.GetValue(json)) WriteJson(report, io.Out);
            else WriteTable(report, io.Out);
            return 0;
        });
        return cmd;
    }

    private static int Positive(int value, string name, bool allowZero = false) =>
        value > 0 || (allowZero && value == 0) ? value
            : throw new QwenSharpException($"{name} must be {(allowZero ? "0 (default) or more" : "at least 1")}, got {value}");

    internal sealed record BenchSettings(int Threads, int PromptTokens, int GenTokens, int Reps, KvCacheType KvType, long BandwidthBytes, int Depth = 0)
    {
        public int ContextLength => QwenDecodeBench.ContextLength(Depth, PromptTokens, GenTokens);
        public string PromptTest => QwenDecodeBench.TestName("pp", PromptTokens, Depth);
        public string GenTest => QwenDecodeBench.TestName("tg", GenTokens, Depth);
    }

    internal sealed record BenchReport(
        ModelFootprint Model, BenchSettings Settings, int Threads,
        SampleStats PromptTps, SampleStats GenTps, long PeakRssBytes, MemoryBandwidth.Result Bandwidth)
    {
        /// <summary>Tokens per second if every decode step only had to stream the weights once at the measured bandwidth.</summary>
        public double BoundTps => Bandwidth.GBps * 1e9 / Model.WeightBytesPerToken;

        /// <summary>Measured generation speed as a percentage of that bound.</summary>
        public double BandwidthPct => 100 * GenTps.Median / BoundTps;
    }

    internal static BenchReport Measure(Qwen2Model m, BenchSettings s)
    {
        var footprint = ModelFootprint.Of(m);
        int[] tokens = QwenDecodeBench.PromptTokens(s.PromptTokens, m.Config.VocabSize);
        var options = new ContextOptions
        {
            ContextLength = s.ContextLength,
            MaxBatch = 512,
            Threads = s.Threads,
            KvCacheType = s.KvType,
        };
        var pp = new List<double>();
        var tg = new List<double>();
        int threads;
        using (var bench = new QwenDecodeBench(m, options, tokens, s.Depth))
        {
            threads = bench.ThreadCount;
            // Warm-up: touches every weight page and buffer once, so rep 1 is not a page-fault benchmark.
            bench.Prompt();
            bench.Generate(Math.Min(s.GenTokens, 4));
            for (int i = 0; i < s.Reps; i++) pp.Add(s.PromptTokens / bench.Prompt());
            for (int i = 0; i < s.Reps; i++) tg.Add(s.GenTokens / bench.Generate(s.GenTokens));
        }
        // Read the peak before the bandwidth probe allocates its buffer, and probe after the context's threads are
        // gone so they do not compete with it.
        long peak = ProcessMemory.PeakRssBytes();
        var bandwidth = MemoryBandwidth.Measure(threads, s.BandwidthBytes);
        return new BenchReport(footprint, s, threads, SampleStats.Of(pp), SampleStats.Of(tg), peak, bandwidth);
    }

    private static void WriteTable(BenchReport r, TextWriter o)
    {
        var m = r.Model;
        string name = $"{m.Name} {m.WeightType}";
        o.WriteLine("| model | size | params | threads | test | t/s |");
        o.WriteLine("| ----- | ---: | -----: | ------: | ---- | --: |");
        o.WriteLine($"| {name} | {m.SizeText} | {m.ParamsText} | {r.Threads} | {r.Settings.PromptTest} | {r.PromptTps.Format()} |");
        o.WriteLine($"| {name} | {m.SizeText} | {m.ParamsText} | {r.Threads} | {r.Settings.GenTest} | {r.GenTps.Format()} |");
        o.WriteLine();
        o.WriteLine($"t/s: median ± standard deviation of {r.Settings.Reps} reps after a warm-up " +
                    $"(pp min-max {r.PromptTps.Min:F2}-{r.PromptTps.Max:F2}, tg min-max {r.GenTps.Min:F2}-{r.GenTps.Max:F2}); KV cache {r.Settings.KvType.ToString().ToLowerInvariant()}");
        o.WriteLine($"peak RSS: {ModelFootprint.FormatBytes(r.PeakRssBytes)} ({ProcessMemory.Source}; counts the touched pages of the memory-mapped model file)");
        o.WriteLine($"memory read bandwidth: {r.Bandwidth.GBps:F1} GB/s (streaming sum over {ModelFootprint.FormatBytes(r.Bandwidth.BufferBytes)}, {r.Bandwidth.Threads} threads, best of {r.Bandwidth.Passes})");
        o.WriteLine($"tg reads {ModelFootprint.FormatBytes(m.WeightBytesPerToken)} of weights per token: bound {r.BoundTps:F2} t/s, measured {r.GenTps.Median:F2} t/s = {r.BandwidthPct:F1}% of the memory-bandwidth bound");
        if (r.Settings.Depth > 0)
            o.WriteLine($"the bound counts the weights only: at depth {r.Settings.Depth} each tg token also reads the cache's keys and values of {r.Settings.Depth}+ positions");
    }

    private static void WriteJson(BenchReport r, TextWriter o)
    {
        using (var w = new Utf8JsonWriter(new TextWriterStream(o)))
        {
            w.WriteStartObject();
            // The contract's fields, in this order; extras follow.
            w.WriteString("model", r.Model.Name);
            w.WriteNumber("threads", r.Threads);
            w.WriteNumber("pp_tokens", r.Settings.PromptTokens);
            w.WriteNumber("pp_tps", r.PromptTps.Median);
            w.WriteNumber("tg_tokens", r.Settings.GenTokens);
            w.WriteNumber("tg_tps", r.GenTps.Median);
            w.WriteNumber("peak_rss_bytes", r.PeakRssBytes);
            w.WriteNumber("bandwidth_pct", r.BandwidthPct);
            w.WriteString("weight_type", r.Model.WeightType);
            w.WriteNumber("file_bytes", r.Model.FileBytes);
            w.WriteNumber("params", r.Model.Parameters);
            w.WriteNumber("reps", r.Settings.Reps);
            w.WriteNumber("depth", r.Settings.Depth);
            w.WriteString("kv_type", r.Settings.KvType.ToString().ToLowerInvariant());
            WriteStats(w, "pp_tps", r.PromptTps);
            WriteStats(w, "tg_tps", r.GenTps);
            w.WriteNumber("weight_bytes_per_token", r.Model.WeightBytesPerToken);
            w.WriteNumber("read_bandwidth_gbps", r.Bandwidth.GBps);
            w.WriteNumber("bandwidth_bound_tps", r.BoundTps);
            w.WriteEndObject();
        }
        o.WriteLine();
    }

    private static void WriteStats(Utf8JsonWriter w, string prefix, SampleStats s)
    {
        w.WriteNumber(prefix + "_min", s.Min);
        w.WriteNumber(prefix + "_max", s.Max);
        w.WriteNumber(prefix + "_stddev", s.StdDev);
    }
}

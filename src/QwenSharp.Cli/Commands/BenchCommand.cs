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
            using var m = ModelLocator.Load(r.GetValue(model)!, io, new ModelLoadOptions { RepackWeights = !r.GetValue(noRepack), DecodeThreads = settings.Threads });
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

    /// <summary>What a run measured. <paramref name="Bandwidth"/> holds one probe per tg rep, taken right after it:
    /// on a shared machine the read bandwidth can move by a factor of two from one minute to the next (this project's
    /// VM flips between about 45 and 82 GB/s), so each rep is held against its own probe.</summary>
    internal sealed record BenchReport(
        ModelFootprint Model, BenchSettings Settings, int Threads,
        SampleStats PromptTps, IReadOnlyList<double> GenRepTps, long PeakRssBytes, IReadOnlyList<MemoryBandwidth.Result> Bandwidth)
    {
        public SampleStats GenTps => SampleStats.Of(GenRepTps);

        /// <summary>The probes' GB/s: median, min, max.</summary>
        public SampleStats BandwidthGBps => SampleStats.Of(Bandwidth.Select(b => b.GBps).ToList());

        /// <summary>The bound at the median probe's bandwidth.</summary>
        public double BoundTps => Model.BoundTps(BandwidthGBps.Median);

        /// <summary>Each tg rep's speed as a percentage of the bound at its own probe.</summary>
        public SampleStats RepBandwidthPct => SampleStats.Of(GenRepTps.Select((tps, i) => Model.BandwidthPct(tps, Bandwidth[i].GBps)).ToList());

        /// <summary>The median of the reps' percentages.</summary>
        public double BandwidthPct => RepBandwidthPct.Median;
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
        var probes = new List<MemoryBandwidth.Result>();
        int threads;
        long peak;
        using (var bench = new QwenDecodeBench(m, options, tokens, s.Depth))
        {
            threads = bench.ThreadCount;
            // Warm-up: touches every weight page and buffer once, so rep 1 is not a page-fault benchmark.
            bench.Prompt();
            bench.Generate(Math.Min(s.GenTokens, 4));
            for (int i = 0; i < s.Reps; i++) pp.Add(s.PromptTokens / bench.Prompt());
            // The peak so far (load, repacking, prompts) before the probe's buffer is resident; the tg reps' own peak
            // is read at the end less that buffer, which stays resident throughout.
            peak = ProcessMemory.PeakRssBytes();
            using var probe = new MemoryBandwidth.Probe(threads, s.BandwidthBytes);
            for (int i = 0; i < s.Reps; i++)
            {
                tg.Add(s.GenTokens / bench.Generate(s.GenTokens));
                probes.Add(probe.Measure());
            }
            peak = Math.Max(peak, ProcessMemory.PeakRssBytes() - probe.ResidentBytes);
        }
        return new BenchReport(footprint, s, threads, SampleStats.Of(pp), tg, peak, probes);
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
        var probe = r.Bandwidth[0];
        var gbps = r.BandwidthGBps;
        o.WriteLine($"memory read bandwidth: {gbps.Median:F1} GB/s median, {gbps.Min:F1}-{gbps.Max:F1} (probed after each tg rep: streaming sum over {ModelFootprint.FormatBytes(probe.BufferBytes)}, {probe.Threads} threads, best of {probe.Passes})");
        var pct = r.RepBandwidthPct;
        o.WriteLine($"tg reads {ModelFootprint.FormatBytes(m.WeightBytesPerToken)} of weights per token: bound {r.BoundTps:F2} t/s at the median probe; " +
                    $"each rep against its own probe: {r.BandwidthPct:F1}% of the memory-bandwidth bound (median; reps {pct.Min:F1}-{pct.Max:F1}%)");
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
            w.WriteNumber("read_bandwidth_gbps", r.BandwidthGBps.Median);
            w.WriteNumber("read_bandwidth_gbps_min", r.BandwidthGBps.Min);
            w.WriteNumber("read_bandwidth_gbps_max", r.BandwidthGBps.Max);
            w.WriteNumber("bandwidth_bound_tps", r.BoundTps);
            w.WriteNumber("bandwidth_pct_min", r.RepBandwidthPct.Min);
            w.WriteNumber("bandwidth_pct_max", r.RepBandwidthPct.Max);
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

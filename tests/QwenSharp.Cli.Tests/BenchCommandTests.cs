using static QwenSharp.Cli.Tests.QwenCli;
using QwenSharp.Tests;
using System.Text.Json;
using QwenSharp.Cli.Bench;
using QwenSharp.Models;

namespace QwenSharp.Cli.Tests;

/// <summary>`qwen bench` end to end on a tiny model, and the pieces its numbers come from.</summary>
public class BenchCommandTests
{
    private static readonly Lazy<string> TinyModel = new(() =>
    {
        string dir = TestPaths.NewTempDir("bench");
        string path = Path.Combine(dir, "tiny-bench.gguf");
        SyntheticQwen2.Write(path, new SyntheticModelSpec
        {
            HiddenSize = 64, FeedForwardSize = 96, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            TiedEmbeddings = false, WeightType = QwenSharp.Tensors.GgmlType.Q8_0, Name = "tiny-bench",
        }, SyntheticVocabulary.ByteLevel());
        return path;
    });


    // A small bandwidth buffer keeps the test fast; the default (1 GiB) is for real measurements.
    private static readonly string[] Quick = ["-p", "16", "-n", "4", "--reps", "1", "--bandwidth-mib", "32"];

    [Fact]
    public void JsonIsOneObjectWithTheContractFieldsFirst()
    {
        var (code, stdout, stderr) = Qwen(["bench", TinyModel.Value, .. Quick, "--threads", "2", "--json"]);
        Assert.True(code == 0, stderr);
        Assert.Single(stdout.Trim().Split('\n'));
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        string[] contract = ["model", "threads", "pp_tokens", "pp_tps", "tg_tokens", "tg_tps", "peak_rss_bytes", "bandwidth_pct"];
        Assert.Equal(contract, root.EnumerateObject().Take(contract.Length).Select(p => p.Name));
        Assert.Equal("tiny-bench", root.GetProperty("model").GetString());
        Assert.Equal(2, root.GetProperty("threads").GetInt32());
        Assert.Equal(16, root.GetProperty("pp_tokens").GetInt32());
        Assert.Equal(4, root.GetProperty("tg_tokens").GetInt32());
        foreach (string key in new[] { "pp_tps", "tg_tps", "bandwidth_pct", "read_bandwidth_gbps" })
        {
            double v = root.GetProperty(key).GetDouble();
            Assert.True(v > 0 && double.IsFinite(v), $"{key} = {v}");
        }
        // The peak resident set holds at least the .NET runtime and the model file's touched pages.
        Assert.True(root.GetProperty("peak_rss_bytes").GetInt64() > root.GetProperty("file_bytes").GetInt64());
        Assert.Equal("Q8_0", root.GetProperty("weight_type").GetString());
    }

    [Fact]
    public void TableNamesBothTestsAndTheBandwidthBound()
    {
        var (code, stdout, stderr) = Qwen(["bench", TinyModel.Value, .. Quick, "-t", "1"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("| pp16 |", stdout);
        Assert.Contains("| tg4 |", stdout);
        Assert.Contains("peak RSS", stdout);
        Assert.Contains("% of the memory-bandwidth bound", stdout);
    }

    [Fact]
    public void ADepthNamesTheTestsAsLlamaBenchAndIsInTheJson()
    {
        var (code, stdout, stderr) = Qwen(["bench", TinyModel.Value, .. Quick, "-t", "1", "-d", "20"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("| pp16 @ d20 |", stdout);
        Assert.Contains("| tg4 @ d20 |", stdout);
        Assert.Contains("at depth 20", stdout);
        (code, stdout, stderr) = Qwen(["bench", TinyModel.Value, .. Quick, "-t", "1", "--n-depth", "20", "--json"]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(20, doc.RootElement.GetProperty("depth").GetInt32());
        Assert.True(doc.RootElement.GetProperty("tg_tps").GetDouble() > 0);
    }

    [Fact]
    public void EveryTestStartsFromTheDepthsTokensAndExtendsThem()
    {
        using var m = Qwen2Model.Load(TinyModel.Value);
        var options = new ContextOptions { ContextLength = 40, MaxBatch = 8, Threads = 1 };
        int[] prompt = QwenDecodeBench.PromptTokens(6, m.Config.VocabSize);
        using var bench = new QwenDecodeBench(m, options, prompt, depth: 21);   // three batches of 8
        Assert.Equal(21, bench.Depth);
        Assert.Equal(21, bench.CachedTokens);
        for (int round = 0; round < 2; round++)
        {
            bench.Prompt();
            Assert.Equal(27, bench.CachedTokens);
            bench.Generate(5);
            Assert.Equal(26, bench.CachedTokens);
        }
        // without a depth, as before: from an empty cache
        using var flat = new QwenDecodeBench(m, options, prompt);
        flat.Generate(3);
        Assert.Equal(3, flat.CachedTokens);
        // a depth the context cannot hold is the context's error, not a crash
        Assert.Throws<ContextFullException>(() => new QwenDecodeBench(m, options, prompt, depth: 41));
    }

    [Theory]
    [InlineData(1, "-d", "-1")]
    [InlineData(1, "-d", "2147483100")]   // with the default -p 512 and -n 128, past the largest context
    [InlineData(1, "-p", "0")]
    [InlineData(1, "-p", "-5")]
    [InlineData(1, "-n", "0")]
    [InlineData(1, "--reps", "0")]
    [InlineData(1, "--threads", "-1")]
    [InlineData(1, "--kv-type", "q4")]
    [InlineData(2, "-p", "many")]
    public void BadOptionsAreOneLineErrors(int expectedCode, string option, string value)
    {
        var (code, stdout, stderr) = Qwen("bench", TinyModel.Value, option, value);
        Assert.Equal(expectedCode, code);
        Assert.Empty(stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("qwen: ", stderr);
        if (expectedCode == 1) Assert.Contains(option, stderr);
    }

    [Fact]
    public void MissingModelIsOneLineNamingThePath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"no-such-model-{Guid.NewGuid():N}.gguf");
        var (code, _, stderr) = Qwen("bench", path, "--json");
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains(path, stderr);
    }

    [Fact]
    public void WeightBytesPerTokenCountsEveryMatrixButTheEmbeddingLookup()
    {
        using var m = Qwen2Model.Load(TinyModel.Value);
        // Independently from the file's tensor list: all 2-D tensors except token_embd (the model is untied, so
        // output.weight is its own tensor and is counted).
        long expected = m.Source.Tensors.Where(t => t.DimCount == 2 && t.Name != "token_embd.weight").Sum(t => t.ByteSize);
        Assert.Equal(expected, ModelFootprint.BytesReadPerToken(m.Weights));
        Assert.True(expected < m.Source.FileSize);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(1000)]
    [InlineData(4099)]
    public void StreamingSumMatchesTheScalarSum(int length)
    {
        var rng = new Random(length);
        var words = new ulong[length];
        for (int i = 0; i < length; i++) words[i] = (ulong)rng.NextInt64() * 3 + (ulong)i; // wraps: exercises overflow
        Assert.Equal(MemoryBandwidth.SumScalar(words), MemoryBandwidth.Sum(words));
    }

    [Fact]
    public void AKeptProbeMeasuresAgainAndRejectsBadArguments()
    {
        using (var probe = new MemoryBandwidth.Probe(2, 4 << 20))
        {
            var first = probe.Measure();
            var second = probe.Measure(passes: 2);
            Assert.True(first.GBps > 0 && double.IsFinite(first.GBps), $"{first.GBps} GB/s");
            Assert.True(second.GBps > 0 && double.IsFinite(second.GBps), $"{second.GBps} GB/s");
            Assert.Equal((4L << 20, 2, 2), (second.BufferBytes, second.Threads, second.Passes));
            Assert.Throws<QwenSharpException>(() => probe.Measure(passes: 0));
            probe.Dispose();   // and again at the end of the using: a second Dispose does nothing
        }
        Assert.Throws<QwenSharpException>(() => new MemoryBandwidth.Probe(0, 4 << 20));
        Assert.Throws<QwenSharpException>(() => new MemoryBandwidth.Probe(1, 1000));
    }

    [Fact]
    public void SampleStatsHasTheMedianAndSampleStandardDeviation()
    {
        var odd = SampleStats.Of([3.0, 1.0, 2.0]);
        Assert.Equal(2.0, odd.Median);
        Assert.Equal(1.0, odd.StdDev, 12);      // deviations -1, 0, 1: sqrt(2 / 2)
        var even = SampleStats.Of([4.0, 1.0, 2.0, 3.0]);
        Assert.Equal(2.5, even.Median);
        Assert.Equal(1.0, even.Min);
        Assert.Equal(4.0, even.Max);
        Assert.Equal(Math.Sqrt(5.0 / 3.0), even.StdDev, 12); // deviations ±1.5, ±0.5: sqrt(5 / 3)
        Assert.Equal(0.0, SampleStats.Of([7.0]).StdDev);
    }

    [Fact]
    public void PeakRssIsAtLeastTheCurrentRss()
    {
        // VmRSS and VmHWM are two reads of /proc/self/status; other tests' threads can unmap memory in between, and the
        // kernel folds per-thread RSS counts into the high-water mark only now and then, so one pair out of five in
        // which the peak holds is asked for (a wrong field or unit fails all five)
        var pairs = new List<(long Now, long Peak)>();
        for (int i = 0; i < 5 && (pairs.Count == 0 || pairs[^1].Peak < pairs[^1].Now); i++)
            pairs.Add((ProcessMemory.RssBytes(), ProcessMemory.PeakRssBytes()));
        Assert.True(pairs[^1].Now > 0);
        Assert.True(pairs[^1].Peak >= pairs[^1].Now, string.Join("; ", pairs.Select(p => $"rss {p.Now}, peak {p.Peak}")));
    }

    [Fact]
    public void EachTgRepIsHeldAgainstTheProbeRightAfterIt()
    {
        // The arithmetic, on made-up numbers: 100 MB per token; reps of 400, 300, 500 t/s after probes of 80, 40,
        // 50 GB/s (bounds 800, 400, 500 t/s) are 50, 75 and 100 % of their bounds, whatever the median probe says.
        var footprint = new ModelFootprint("m", 1, 1, 1, "Q8_0", 100_000_000);
        var settings = new global::QwenSharp.Cli.Commands.BenchCommand.BenchSettings(2, 16, 4, 3, KvCacheType.F16, 1 << 20);
        MemoryBandwidth.Result Probe(double gbps) => new(gbps, 1 << 20, 2, 3);
        double[] tg = [400, 300, 500];
        var report = new global::QwenSharp.Cli.Commands.BenchCommand.BenchReport(footprint, settings, 2,
            SampleStats.Of([1.0]), tg, 0, [Probe(80), Probe(40), Probe(50)]);
        Assert.Equal(75, report.BandwidthPct, 9);
        Assert.Equal(50, report.RepBandwidthPct.Min, 9);
        Assert.Equal(100, report.RepBandwidthPct.Max, 9);
        Assert.Equal(50, report.BandwidthGBps.Median, 9);
        Assert.Equal(500, report.BoundTps, 9);   // at the median probe

        // End to end: each rep's percentage lies between what the slowest rep at the fastest probe and the fastest
        // rep at the slowest probe would give (a formula upside down, or probes not per rep, falls outside).
        var (code, stdout, stderr) = Qwen(["bench", TinyModel.Value, "-p", "16", "-n", "4", "--reps", "3", "--bandwidth-mib", "32", "-t", "2", "--json"]);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        double Get(string key) => root.GetProperty(key).GetDouble();
        double bytes = Get("weight_bytes_per_token");
        double lowest = 100 * Get("tg_tps_min") * bytes / (Get("read_bandwidth_gbps_max") * 1e9);
        double highest = 100 * Get("tg_tps_max") * bytes / (Get("read_bandwidth_gbps_min") * 1e9);
        foreach (string key in new[] { "bandwidth_pct_min", "bandwidth_pct", "bandwidth_pct_max" })
            Assert.InRange(Get(key), lowest * (1 - 1e-9), highest * (1 + 1e-9));
        Assert.True(lowest > 0, $"{lowest} %");
    }
}

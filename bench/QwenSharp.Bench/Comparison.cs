using QwenSharp.Cli.Bench;
using QwenSharp.Models;
using QwenSharp.Tests.Oracle;

namespace QwenSharp.Bench;

internal sealed record ComparisonSettings(
    IReadOnlyList<BenchType> Types, int Threads, int PromptTokens, int GenTokens, int Reps,
    string Directory, bool FlashAttention, bool KeepSource, BenchShape Shape, bool WarmCache, int Depth, string CommandLine)
{
    /// <summary>Both runtimes' context.</summary>
    public int ContextLength => QwenDecodeBench.ContextLength(Depth, PromptTokens, GenTokens);
    public string PromptTest => QwenDecodeBench.TestName("pp", PromptTokens, Depth);
    public string GenTest => QwenDecodeBench.TestName("tg", GenTokens, Depth);
}

/// <summary>One type's results: tokens/s of both runtimes, each tg rep's share of the bandwidth bound (against the
/// probe run right after that rep), and QwenSharp's memory.</summary>
internal sealed record TypeResult(
    BenchType Type, ModelFootprint Model,
    SampleStats QwenPp, SampleStats QwenTg, SampleStats LlamaPp, SampleStats LlamaTg,
    SampleStats QwenBandwidthPct, SampleStats LlamaBandwidthPct, IReadOnlyList<double> Probes,
    long RssBeforeLoad, long RssAfterLoad, long RssAfterWarmUp, FilePages Pages);

/// <summary>Where each runtime's weight pages ended up after warm-up: whether the file was evicted from the page cache
/// first, each runtime's resident file-mapped bytes and how many of them are mapped 2 MiB at a time, and QwenSharp's
/// anonymous 2 MiB pages (its repacked windows).</summary>
internal sealed record FilePages(bool Evicted, long QwenFile, long QwenFileHuge, long QwenAnonymousHuge, long LlamaFile, long LlamaFileHuge);

internal sealed record ComparisonResults(
    ComparisonSettings Settings, IReadOnlyList<TypeResult> Types, int ProbeThreads,
    DateTime StartedUtc, string LoadAtStart, string LoadAtEnd, string LlamaLibrary);

/// <summary>Runs every type: QwenSharp and llama.cpp hold the same file open at once, and each rep runs
/// QwenSharp pp, llama.cpp pp, QwenSharp tg, llama.cpp tg in turn.</summary>
internal sealed class Comparison(ComparisonSettings s, TextWriter log)
{
    /// <summary>Both runtimes' idle workers spin for a few milliseconds before they sleep; this pause between
    /// runtimes lets them sleep, so neither measures while the other's threads still hold a core.</summary>
    private const int HandOverMs = 250;

    public ComparisonResults Run()
    {
        var started = DateTime.UtcNow;
        string loadStart = MachineInfo.LoadAverage();
        string library = LlamaCppNative.LoadedLibraryPath() is { } path ? Path.GetFileName(Path.GetDirectoryName(path)) + "/libllama.so" : "not found";
        var paths = new BenchModels(s.Directory, log, s.Shape).Ensure(s.Types, s.Threads, s.KeepSource);
        var results = new List<TypeResult>();
        // The machine's read bandwidth moves by a third from minute to minute (other tenants), so one probe at the
        // end could set a decode that ran in a fast minute against a slow one or the other way round: every tg rep
        // of either runtime is followed by a probe (best of three passes over a 1 GiB buffer kept resident), and
        // that rep's "% bw" is taken against it.
        log.WriteLine("bandwidth probe: filling 1 GiB");
        using var probe = new MemoryBandwidth.Probe(s.Threads, 1L << 30);
        foreach (var type in s.Types) results.Add(RunType(type, paths[type], probe));
        return new ComparisonResults(s, results, s.Threads, started, loadStart, MachineInfo.LoadAverage(), library);
    }

    private TypeResult RunType(BenchType type, string path, MemoryBandwidth.Probe probe)
    {
        // Unless --warm-cache: start from the page cache of a first load after boot. QwenSharp loads first and reads the
        // file in (in 2 MiB folios on this machine's kernel); llama.cpp then maps the same cached pages.
        bool evicted = !s.WarmCache && PageCache.Evict(path);
        log.WriteLine($"{type.Name}: loading {path}{(evicted ? " (evicted from the page cache first)" : "")}");
        GC.Collect();
        long before = ProcessMemory.RssBytes();
        long anonHugeBefore = PageCache.AnonymousOnHugePages();
        using var model = Qwen2Model.Load(path, new ModelLoadOptions { DecodeThreads = s.Threads });
        long afterLoad = ProcessMemory.RssBytes();
        var footprint = ModelFootprint.Of(model);
        int[] tokens = QwenDecodeBench.PromptTokens(s.PromptTokens, model.Config.VocabSize);
        var options = new ContextOptions
        {
            ContextLength = s.ContextLength,
            MaxBatch = LlamaDecodeBench.Batch,
            Threads = s.Threads,
            KvCacheType = KvCacheType.F16,
        };
        using var qwen = new QwenDecodeBench(model, options, tokens, s.Depth);
        qwen.Prompt();
        qwen.Generate(Math.Min(4, s.GenTokens));
        long afterWarmUp = ProcessMemory.RssBytes();
        var qwenFile = PageCache.MappedOnHugePages(path);
        long anonHuge = PageCache.AnonymousOnHugePages() - anonHugeBefore;
        Thread.Sleep(HandOverMs);

        using var llama = new LlamaDecodeBench(path, s.Threads, s.ContextLength, s.FlashAttention, tokens,
            QwenDecodeBench.DepthTokens(s.Depth, model.Config.VocabSize));
        llama.Prompt();
        llama.Generate(Math.Min(4, s.GenTokens));
        var bothFile = PageCache.MappedOnHugePages(path);
        long qf = qwenFile.Sum(m => m.Resident), qh = qwenFile.Sum(m => m.OnHugePages);
        var pages = new FilePages(evicted, qf, qh, anonHuge, bothFile.Sum(m => m.Resident) - qf, bothFile.Sum(m => m.OnHugePages) - qh);

        List<double> qpp = [], qtg = [], lpp = [], ltg = [], qpct = [], lpct = [], probes = [];
        // share of the bound for a rep: tokens/s / (probed bytes/s / weight bytes per token)
        double Percent(double tps)
        {
            Thread.Sleep(HandOverMs);
            double gbps = probe.Measure().GBps;
            probes.Add(gbps);
            return footprint.BandwidthPct(tps, gbps);
        }
        for (int rep = 0; rep < s.Reps; rep++)
        {
            qpp.Add(s.PromptTokens / HandOver(qwen.Prompt));
            lpp.Add(s.PromptTokens / HandOver(llama.Prompt));
            qtg.Add(s.GenTokens / HandOver(() => qwen.Generate(s.GenTokens)));
            qpct.Add(Percent(qtg[^1]));
            ltg.Add(s.GenTokens / HandOver(() => llama.Generate(s.GenTokens)));
            lpct.Add(Percent(ltg[^1]));
            log.WriteLine($"{type.Name} rep {rep + 1}/{s.Reps}: QwenSharp pp {qpp[^1]:F1} tg {qtg[^1]:F2} ({qpct[^1]:F0}% bw) | llama.cpp pp {lpp[^1]:F1} tg {ltg[^1]:F2} ({lpct[^1]:F0}% bw) t/s; probes {probes[^2]:F1}, {probes[^1]:F1} GB/s");
        }
        return new TypeResult(type, footprint, SampleStats.Of(qpp), SampleStats.Of(qtg), SampleStats.Of(lpp), SampleStats.Of(ltg),
            SampleStats.Of(qpct), SampleStats.Of(lpct), probes, before, afterLoad, afterWarmUp, pages);
    }

    private static double HandOver(Func<double> run)
    {
        Thread.Sleep(HandOverMs);
        return run();
    }
}

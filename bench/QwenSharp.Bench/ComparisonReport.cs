using System.Globalization;
using QwenSharp.Cli.Bench;

namespace QwenSharp.Bench;

/// <summary>The markdown report: speed table, memory table, and everything needed to reproduce or doubt it.</summary>
internal static class ComparisonReport
{
    /// <summary>"0.38 (0.45)": QwenSharp / llama.cpp of the medians, and of the best reps.</summary>
    private static string Ratio(SampleStats qwen, SampleStats llama) => $"{qwen.Median / llama.Median:F2} ({qwen.Max / llama.Max:F2})";

    public static void Write(ComparisonResults r, TextWriter o)
    {
        var s = r.Settings;
        string pp = s.PromptTest, tg = s.GenTest;
        o.WriteLine($"QwenSharp vs llama.cpp, {s.Shape.Description} (random weights), {s.Threads} threads");
        o.WriteLine();
        o.WriteLine($"- date: {r.StartedUtc.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC");
        o.WriteLine($"- machine: {MachineInfo.Describe()}; load average {r.LoadAtStart} at start, {r.LoadAtEnd} at end");
        o.WriteLine($"- llama.cpp: LLamaSharp 0.30.0 ({r.LlamaLibrary}), n_batch = n_ubatch = {LlamaDecodeBench.Batch}, KV cache f16, flash attention {(s.FlashAttention ? "on" : "off")}, context {s.ContextLength}");
        o.WriteLine($"- QwenSharp: MaxBatch {LlamaDecodeBench.Batch}, KV cache f16, context {s.ContextLength}");
        if (s.Depth > 0)
            o.WriteLine($"- depth: both runtimes' caches hold {s.Depth} tokens when each test starts (decoded once, untimed; each test cuts the cache back to them); the bandwidth bound still counts the weights only, not the cache's keys and values that every tg token also reads");
        o.WriteLine($"- command: `{s.CommandLine}`");
        o.WriteLine($"- t/s: median ± standard deviation of {s.Reps} reps per runtime, reps alternating between the runtimes after one warm-up each; ratio = QwenSharp / llama.cpp of the medians (> 1: QwenSharp faster), and in brackets of the best reps, the better guide when other processes load the machine (they can only slow a rep down)");
        var probes = r.Types.SelectMany(t => t.Probes).ToArray();
        o.WriteLine($"- memory read bandwidth: probed right after every {tg} rep of either runtime ({r.ProbeThreads} threads, streaming sum over a resident 1 GiB buffer, best of 3 passes): {probes.Min():F1}-{probes.Max():F1} GB/s over the run; \"% bw\" = median over the reps of {tg} speed / (that rep's probed bandwidth / weight bytes read per token)");
        o.WriteLine();
        o.WriteLine($"| type | file | QwenSharp {pp} | QwenSharp {tg} | llama.cpp {pp} | llama.cpp {tg} | ratio pp | ratio tg | QwenSharp % bw | llama.cpp % bw |");
        o.WriteLine("| ---- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var t in r.Types)
        {
            o.WriteLine($"| {t.Type.Name} | {ModelFootprint.FormatBytes(t.Model.FileBytes)} | {t.QwenPp.Format()} | {t.QwenTg.Format()} | {t.LlamaPp.Format()} | {t.LlamaTg.Format()} " +
                        $"| {Ratio(t.QwenPp, t.LlamaPp)} | {Ratio(t.QwenTg, t.LlamaTg)} | {t.QwenBandwidthPct.Median:F0}% | {t.LlamaBandwidthPct.Median:F0}% |");
        }
        o.WriteLine();
        o.WriteLine("QwenSharp memory (VmRSS of this process, growth over the value before loading the model; the weights are memory-mapped, so they count once touched):");
        o.WriteLine();
        o.WriteLine("| type | file | after load | after warm-up |");
        o.WriteLine("| ---- | ---: | ---: | ---: |");
        foreach (var t in r.Types)
            o.WriteLine($"| {t.Type.Name} | {ModelFootprint.FormatBytes(t.Model.FileBytes)} | +{ModelFootprint.FormatBytes(t.RssAfterLoad - t.RssBeforeLoad)} | +{ModelFootprint.FormatBytes(t.RssAfterWarmUp - t.RssBeforeLoad)} |");
        o.WriteLine();
        o.WriteLine("Weight pages after warm-up (2 MiB pages cost a decode fewer TLB misses; \"evicted\": the file was dropped from the page cache before the type ran, so QwenSharp's load read it in, and llama.cpp mapped the same cached pages; --warm-cache keeps the cache as found):");
        o.WriteLine();
        o.WriteLine("| type | page cache | QwenSharp file-mapped (on 2 MiB) | QwenSharp repacked windows on 2 MiB | llama.cpp file-mapped (on 2 MiB) |");
        o.WriteLine("| ---- | ---- | ---: | ---: | ---: |");
        foreach (var t in r.Types)
        {
            var p = t.Pages;
            o.WriteLine($"| {t.Type.Name} | {(p.Evicted ? "evicted" : "as found")} | {ModelFootprint.FormatBytes(p.QwenFile)} ({ModelFootprint.FormatBytes(p.QwenFileHuge)}) " +
                        $"| {ModelFootprint.FormatBytes(p.QwenAnonymousHuge)} | {ModelFootprint.FormatBytes(p.LlamaFile)} ({ModelFootprint.FormatBytes(p.LlamaFileHuge)}) |");
        }
    }
}

using System.CommandLine;

namespace QwenSharp.Bench.Micro;

/// <summary>`bench micro NAME`: single-kernel microbenchmarks on synthetic rows (no model file, no llama.cpp), for
/// measuring a kernel change before and after. They print timings only; correctness is the tests' job.</summary>
internal static class MicroBench
{
    private static readonly (string Name, string Description, Action<TextWriter> Run)[] All =
    [
        ("matvec", "batch-1 MatMulRows wall-clock GB/s on the compute pool (QWEN_BENCH_MATVEC_TYPES=all or q4_k,q6_k,..., QWEN_BENCH_MATVEC_BIG=1)", DecodeMatVecBenchmark.MatVecBandwidth),
        ("matvec-cpu", "batch-1 MatMulRows, one thread's CPU time, decode kernel vs single-row path (QWEN_BENCH_MATVEC_TYPES=q4_0,f16,...)", DecodeMatVecCpuTimeBenchmark.MatVecThreadCpuTime),
        ("smallbatch", "MatMulRows at small batches, small-batch kernel vs tiles, thread CPU time (QWEN_BENCH_SMALLBATCH_TYPES, _BATCHES)", SmallBatchMatMulBenchmark.SmallBatchMilliseconds),
        ("stream", "batch-1 matvec vs the bandwidth probe's streaming sum over 1 GiB from DRAM, one and two threads (QWEN_BENCH_STREAM_TYPES=q8_0,q4_0)", StreamVsMatVecBenchmark.Run),
        ("runs", "batch-1 matvecs as a decode step's short pool runs (one per matrix of 1024..65536 rows, cold from DRAM) against a streaming sum over the same runs (QWEN_BENCH_RUNS_TYPE=q4_0, _ROUNDS, _SIZES, _PREFETCH=4096:4096,8192:0, QWEN_BENCH_THREADS)", RunSizeBenchmark.Run),
        ("prompt-attention", "BlockAttention.Run for one 16-row group, fp32 keys, thread CPU time", PromptAttentionBenchmark.Run),
        ("attention", "one layer of decode attention, 8 sequences x 16 heads, thread CPU time (QWEN_BENCH_ATTENTION_ROUNDS)", DecodeAttentionBenchmark.OneLayerOfDecodeAttention),
        ("decode-trace", "a traced tg128 on a model file: each pool run's span, threads' parts, join lag, idle and close, and the calling thread's work between runs (QWEN_BENCH_TRACE_MODEL, _TOKENS, QWEN_BENCH_THREADS)", DecodeTraceBenchmark.Run),
    ];

    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "One of: " + string.Join(", ", All.Select(b => b.Name)) };
        var cmd = new Command("micro", "Kernel microbenchmarks: " + string.Join("; ", All.Select(b => $"{b.Name}: {b.Description}"))) { name };
        cmd.SetAction(r =>
        {
            string wanted = r.GetValue(name)!;
            var bench = All.FirstOrDefault(b => b.Name.Equals(wanted, StringComparison.OrdinalIgnoreCase));
            if (bench.Run == null)
            {
                Console.Error.WriteLine($"unknown microbenchmark '{wanted}' (known: {string.Join(", ", All.Select(b => b.Name))})");
                return 2;
            }
            bench.Run(Console.Out);
            return 0;
        });
        return cmd;
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using QwenSharp.Cli.Bench;
using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro runs`): what a decode step's many short pool runs cost the stream next to one
/// long one. A 1 GiB buffer (2 MiB pages where Linux gives them) holds back-to-back matrices of R rows × 1024 in the
/// repacked layout of QWEN_BENCH_RUNS_TYPE (q4_0); each matrix is one pool run, every thread on its own slice of rows
/// (as a layer's matvecs are), the matrices in order through the buffer, so every run reads cold weights from DRAM.
/// For each R (QWEN_BENCH_RUNS_SIZES: 1024 = Wo or one of q/k/v at 0.5B, 2816 = gate or up or down, 5632, 65536), the same runs twice: the
/// batch-1 kernel, then a plain streaming sum over the same slices (the bandwidth probe's loop), so the kernel's
/// share of the loss and the run's share can be told apart. QWEN_BENCH_THREADS (2) threads, QWEN_BENCH_RUNS_ROUNDS
/// (12) rounds, each with the probe and a cache-line ping-pong to tell the machine's state. QWEN_BENCH_RUNS_PREFETCH
/// (4096:4096) lists the decode prefetch settings to run the kernel with, each "ahead:second" in bytes (the first
/// prefetch's distance, <see cref="Block32Rows.PrefetchAhead"/>; where the second lands past it, 0 for none,
/// <see cref="Block32Rows.FarOffset"/>), alternating in each round.</summary>
internal static unsafe class RunSizeBenchmark
{
    public static void Run(TextWriter output)
    {
        var type = Enum.Parse<GgmlType>(Environment.GetEnvironmentVariable("QWEN_BENCH_RUNS_TYPE") ?? "q4_0", ignoreCase: true);
        int threads = Math.Max(1, int.TryParse(Environment.GetEnvironmentVariable("QWEN_BENCH_THREADS"), out int t) ? t : 2);
        int rounds = Math.Max(1, int.TryParse(Environment.GetEnvironmentVariable("QWEN_BENCH_RUNS_ROUNDS"), out int r) ? r : 12);
        int[] sizes = (Environment.GetEnvironmentVariable("QWEN_BENCH_RUNS_SIZES") ?? "1024,2816,5632,65536").Split(',').Select(int.Parse).ToArray();
        // decode prefetch settings to compare, "ahead:second" in bytes (second 0: no second prefetch)
        var settings = (Environment.GetEnvironmentVariable("QWEN_BENCH_RUNS_PREFETCH") ?? $"{PrefetchDistanceTuner.Near}:{Block32Rows.PrefetchFar}").Split(',')
            .Select(v => v.Split(':')).Select(p => (Ahead: int.Parse(p[0]), Second: int.Parse(p[1]))).ToArray();
        const int n = 1024;
        const long target = 1L << 30;
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        int totalRows = (int)(target / rowBytes) / 65536 * 65536;
        if (!Interleaved8.Eligible(type, 65536, n) || totalRows == 0)
        {
            output.WriteLine($"{GgmlTypeInfo.Name(type)}: no repacked layout on this machine; pick q4_0 or q8_0 (AVX2 / AVX-VNNI)");
            return;
        }
        long bytes = totalRows * rowBytes;
        var weights = (byte*)HugePages.Allocate(bytes);
        var rng = new Random(1);
        for (long at = 0; at < bytes; at += 1 << 20) rng.NextBytes(new Span<byte>(weights + at, (int)Math.Min(1 << 20, bytes - at)));
        int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
        for (long at = 0; at < bytes; at += blockBytes) *(ushort*)(weights + at) = 0x2000;   // a normal fp16 d (2^-7) in every block
        Interleaved8.Interleave(type, weights, totalRows, n);
        var activationFloats = new float[n];
        for (int i = 0; i < n; i++) activationFloats[i] = (float)(rng.NextDouble() * 2 - 1);
        var activation = (byte*)NativeMemory.AlignedAlloc((nuint)VecDot.ActivationRowBytes(type, n), 64);
        VecDot.QuantizeActivation(type, activationFloats, new Span<byte>(activation, (int)VecDot.ActivationRowBytes(type, n)));
        var result = (float*)NativeMemory.AlignedAlloc((nuint)totalRows * sizeof(float), 64);
        try
        {
            using var probe = new MemoryBandwidth.Probe(threads, target);
            using var pool = new ComputePool(threads);
            var job = new SliceJob { Type = type, Weights = weights, RowBytes = rowBytes, N = n, Activation = activation, Output = result };
            foreach (bool sum in new[] { false, true }) RunAll(pool, job, 65536, totalRows, sum);   // warm-up: page faults, JIT
            output.WriteLine($"{GgmlTypeInfo.Name(type)} {n} columns, {threads} threads; per run size: kernel GB/s (per prefetch setting: " +
                             $"{string.Join(", ", settings.Select(p => $"{p.Ahead}:{p.Second}"))}), streaming-sum GB/s over the same runs, µs per kernel run (first setting)");
            for (int round = 0; round < rounds; round++)
            {
                // each pool's workers spin for some 15 ms after its last run: let them sleep before the other pool runs
                Thread.Sleep(40);
                double probeGBps = probe.Measure(passes: 1).GBps;
                Thread.Sleep(40);
                // and wake this pool's worker before timing: just after a sleep the scheduler may still hold both
                // threads on one vCPU (seen here as 1024-row rounds at 20-25 GB/s against 55-60, at random)
                RunAll(pool, job, 65536, totalRows, sum: true);
                var line = new System.Text.StringBuilder($"{DateTime.UtcNow:HH:mm:ss} probe {probeGBps:F1} GB/s, ping-pong {DecodeTraceBenchmark.PingPongNanoseconds():F0} ns |");
                foreach (int rows in sizes)
                {
                    int runs = totalRows / rows;
                    long read = (long)runs * rows * rowBytes;
                    // each prefetch setting in turn, in the opposite order every other round
                    var kernelSeconds = new double[settings.Length];
                    for (int k = 0; k < settings.Length; k++)
                    {
                        int i = round % 2 == 0 ? k : settings.Length - 1 - k;
                        (Block32Rows.PrefetchAhead, Block32Rows.FarOffset) = settings[i];
                        kernelSeconds[i] = RunAll(pool, job, rows, totalRows, sum: false);
                    }
                    double sumSeconds = RunAll(pool, job, rows, totalRows, sum: true);
                    line.Append($" {rows}: {string.Join(" ", kernelSeconds.Select(t => (read / t / 1e9).ToString("F1")))} / {read / sumSeconds / 1e9:F1}, {kernelSeconds[0] / runs * 1e6:F2} µs;");
                }
                output.WriteLine(line.ToString());
            }
        }
        finally
        {
            NativeMemory.AlignedFree(result);
            NativeMemory.AlignedFree(activation);
            NativeMemory.AlignedFree(weights);
        }
    }

    /// <summary>Every whole matrix of <paramref name="rows"/> rows in the buffer, one pool run each; seconds.</summary>
    private static double RunAll(ComputePool pool, SliceJob job, int rows, int totalRows, bool sum)
    {
        job.Rows = rows;
        job.Sum = sum;
        long start = Stopwatch.GetTimestamp();
        for (int first = 0; first + rows <= totalRows; first += rows)
        {
            job.First = first;
            pool.Run(job);
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private sealed class SliceJob : ComputeJob
    {
        public GgmlType Type;
        public byte* Weights, Activation;
        public long RowBytes;
        public int N, First, Rows;
        public float* Output;
        public bool Sum;
        private readonly ulong[] _sink = new ulong[16 * 8];

        public override void Execute(int threadIndex, int threadCount)
        {
            var (start, end) = Slice(Rows, threadIndex, threadCount, 16);
            byte* matrix = Weights + First * RowBytes;
            if (!Sum)
            {
                VecDot.MatMulRows(Type, WeightLayout.Interleaved8, matrix, N, start, end, Activation, 1, Output + First, Rows);
                return;
            }
            // the bandwidth probe's own sum (four lines per step, no software prefetch)
            _sink[(threadIndex % 16) * 8] += MemoryBandwidth.Sum(new ReadOnlySpan<ulong>(matrix + start * RowBytes, (int)((end - start) * RowBytes / sizeof(ulong))));
        }
    }
}

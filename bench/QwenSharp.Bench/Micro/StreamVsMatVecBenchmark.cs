using System.Diagnostics;
using System.Runtime.InteropServices;
using QwenSharp.Cli.Bench;
using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro stream`): how close a batch-1 matvec comes to the bandwidth probe
/// (<see cref="MemoryBandwidth.Probe"/>, the streaming sum `qwen bench` divides by) on the same number of bytes from
/// DRAM (1 GiB each, far past the L3, both on 2 MiB pages where Linux gives them), one and two threads, alternating; in the file's layout, then (for a type the
/// load repacks) interleaved. Weights are random bytes with a normal fp16
/// scale (2^-7) in every block (where the type keeps it): the values of Q8_0/Q4_0 quants do not change an integer kernel's speed.
/// QWEN_BENCH_STREAM_TYPES=q8_0,q4_0 picks the types.</summary>
internal static unsafe class StreamVsMatVecBenchmark
{
    public static void Run(TextWriter output)
    {
        var types = (Environment.GetEnvironmentVariable("QWEN_BENCH_STREAM_TYPES") ?? "q8_0,q4_0")
            .Split(',').Select(name => Enum.Parse<GgmlType>(name, ignoreCase: true)).ToArray();
        const int n = 1024;
        const long target = 1L << 30;
        var rng = new Random(1);
        var activationFloats = new float[n];
        for (int i = 0; i < n; i++) activationFloats[i] = (float)(rng.NextDouble() * 2 - 1);
        foreach (var type in types)
        {
            long rowBytes = GgmlTypeInfo.RowBytes(type, n);
            int rows = (int)(target / rowBytes);
            long bytes = rows * rowBytes;
            var weights = (byte*)HugePages.Allocate(bytes);   // like the probe's buffer and a load's repacked windows
            for (long at = 0; at < bytes; at += 1 << 20) rng.NextBytes(new Span<byte>(weights + at, (int)Math.Min(1 << 20, bytes - at)));
            int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
            // 2^-7 where the type keeps its fp16 d (Q6_K: last; Q4_K: d and dmin first), so that no block has an
            // infinite or NaN scale, which sends a row to the slow exact path
            int scaleAt = type == GgmlType.Q6_K ? 208 : 0;
            for (long at = 0; at < bytes; at += blockBytes)
            {
                *(ushort*)(weights + at + scaleAt) = 0x2000;
                if (type == GgmlType.Q4_K) *(ushort*)(weights + at + 2) = 0x2000;
            }
            var activation = new byte[VecDot.ActivationRowBytes(type, n)];
            VecDot.QuantizeActivation(type, activationFloats, activation);
            var result = (float*)NativeMemory.Alloc((nuint)rows * sizeof(float));
            foreach (var layout in Interleaved8.Eligible(type, rows / 8 * 8, n) ? new[] { WeightLayout.Rows, WeightLayout.Interleaved8 } : [WeightLayout.Rows])
            {
                if (layout == WeightLayout.Interleaved8) Interleaved8.Interleave(type, weights, rows / 8 * 8, n);
                foreach (int threads in new[] { 1, 2 })
                {
                    using var probe = new MemoryBandwidth.Probe(threads, target);
                    using var pool = new ComputePool(threads);
                    fixed (byte* pa = activation)
                    {
                        var mv = new DecodeMatVecBenchmark.RowsJob { Type = type, Layout = layout, Weights = weights, Activation = pa, N = n, Rows = rows / 8 * 8, Output = result };
                        pool.Run(mv);
                        double bestSum = 0, bestMv = 0;
                        for (int round = 0; round < 4; round++)
                        {
                            bestSum = Math.Max(bestSum, probe.Measure(passes: 1).GBps);
                            var sw = Stopwatch.StartNew();
                            pool.Run(mv);
                            bestMv = Math.Max(bestMv, bytes / sw.Elapsed.TotalSeconds / 1e9);
                        }
                        output.WriteLine($"{GgmlTypeInfo.Name(type)} {layout} threads {threads}: streaming sum {bestSum:F1} GB/s, matvec {bestMv:F1} GB/s ({100 * bestMv / bestSum:F0}%)");
                    }
                }
            }
            NativeMemory.Free(result);
            NativeMemory.AlignedFree(weights);
        }
    }
}

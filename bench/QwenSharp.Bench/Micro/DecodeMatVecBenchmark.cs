using System.Diagnostics;
using QwenSharp.Tensors;

using QwenSharp.Tests.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro matvec`): batch-1 MatMulRows GB/s of weight bytes for decode-sized Q8_0/Q4_0
/// matrices, one and two threads, the multi-row kernel alternating with the single-row dot in the same run, and for
/// types the load repacks (Q4_0, Q8_0 with AVX-VNNI) the interleaved layout's kernel (Kernels/Interleaved8.cs) too.</summary>
internal static unsafe class DecodeMatVecBenchmark
{
    /// <summary>Batch-1 MatMulRows over a matrix, rows sliced evenly between the pool's threads.</summary>
    internal sealed class RowsJob : ComputeJob
    {
        public GgmlType Type;
        public WeightLayout Layout;
        public byte* Weights, Activation;
        public int N, Rows;
        public float* Output;

        public override void Execute(int threadIndex, int threadCount)
        {
            var (start, end) = Slice(Rows, threadIndex, threadCount, 16);
            VecDot.MatMulRows(Type, Layout, Weights, N, start, end, Activation, 1, Output, Rows);
        }
    }

    /// <summary>QWEN_BENCH_MATVEC_TYPES: unset = Q8_0, Q4_0; "all"; or a list (q4_k,q6_k).</summary>
    private static GgmlType[] MatVecTypes(string? names) => names switch
    {
        null or "" => [GgmlType.Q8_0, GgmlType.Q4_0],
        "all" => [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16],
        _ => names.Split(',').Select(name => Enum.Parse<GgmlType>(name, ignoreCase: true)).ToArray(),
    };

    public static void MatVecBandwidth(TextWriter output)
    {
        var shapes = Environment.GetEnvironmentVariable("QWEN_BENCH_MATVEC_BIG") == "1" ? new (int Rows, int N)[] { (151936, 1024) } : new (int Rows, int N)[] { (2816, 1024), (1024, 2816), (151936, 1024) };
        foreach (var type in MatVecTypes(Environment.GetEnvironmentVariable("QWEN_BENCH_MATVEC_TYPES")))
            foreach (var (rows, n) in shapes)
            {
                long rowBytes = GgmlTypeInfo.RowBytes(type, n), bytes = rows * rowBytes;
                var (weights, activation) = CheckpointLikeRows.MatVecOperands(type, rows, n, new Random(1));
                bool interleavable = QwenSharp.Tensors.Kernels.Interleaved8.Eligible(type, rows, n);
                var interleaved = weights;
                if (interleavable)
                {
                    interleaved = GC.AllocateUninitializedArray<byte>(weights.Length, pinned: true);
                    weights.CopyTo(interleaved, 0);
                    fixed (byte* p = interleaved) QwenSharp.Tensors.Kernels.Interleaved8.Interleave(type, p, rows, n);
                }
                var result = new float[rows];
                foreach (int threads in new[] { 1, 2 })
                {
                    using var pool = new ComputePool(threads);
                    fixed (byte* pw = weights, pi = interleaved, pa = activation)
                    fixed (float* po = result)
                    {
                        var job = new RowsJob { Type = type, Weights = pw, Activation = pa, N = n, Rows = rows, Output = po };
                        int iterations = (int)Math.Max(3, 600_000_000 / bytes);
                        int modes = interleavable ? 5 : 4;
                        var best = new double[modes];
                        Array.Fill(best, double.MaxValue);
                        for (int round = 0; round < 6; round++)
                            for (int mode = 0; mode < modes; mode++)
                            {
                                VecDot.SingleRowDecode = mode < 2;
                                QwenSharp.Tensors.Kernels.Block32Rows.PrefetchAhead = mode % 2 == 1 || mode == 4 ? 4096 : 0;
                                job.Layout = mode == 4 ? WeightLayout.Interleaved8 : WeightLayout.Rows;
                                job.Weights = mode == 4 ? pi : pw;
                                pool.Run(job);
                                var sw = Stopwatch.StartNew();
                                for (int i = 0; i < iterations; i++) pool.Run(job);
                                best[mode] = Math.Min(best[mode], sw.Elapsed.TotalSeconds / iterations);
                            }
                        VecDot.SingleRowDecode = false;
                        QwenSharp.Tensors.Kernels.Block32Rows.PrefetchAhead = 4096;
                        output.WriteLine($"{GgmlTypeInfo.Name(type)} {rows}x{n} threads {threads}: single-row {bytes / best[0] / 1e9:F1} GB/s, " +
                                         $"single-row+prefetch {bytes / best[1] / 1e9:F1}, multi-row {bytes / best[2] / 1e9:F1}, multi-row+prefetch {bytes / best[3] / 1e9:F1}" +
                                         (interleavable ? $", interleaved {bytes / best[4] / 1e9:F1}" : ""));
                    }
                }
            }
    }
}

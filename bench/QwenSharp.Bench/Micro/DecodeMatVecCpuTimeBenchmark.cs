using QwenSharp.Tensors;

using QwenSharp.Tests.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro matvec-cpu`, Linux): batch-1 MatMulRows on the calling thread, timed in
/// thread CPU time so that other jobs on a shared machine cost it little, the multi-row decode kernel alternating
/// with the single-row path (<see cref="VecDot.SingleRowDecode"/>) and, for a type the load repacks, the interleaved layout's kernel, round by round; best of the rounds, in GB/s of
/// weight bytes, on checkpoint-like rows (CheckpointLikeRows). QWEN_BENCH_MATVEC_TYPES=q4_0,f16,... picks the types (default Q4_0, F16, Q8_0).</summary>
internal static unsafe class DecodeMatVecCpuTimeBenchmark
{
    public static void MatVecThreadCpuTime(TextWriter output)
    {
        var types = (Environment.GetEnvironmentVariable("QWEN_BENCH_MATVEC_TYPES") ?? "q4_0,f16,q8_0")
            .Split(',').Select(name => Enum.Parse<GgmlType>(name, ignoreCase: true)).ToArray();
        var shapes = new (int Rows, int N)[] { (2816, 1024), (1024, 2816), (151936, 1024) };
        foreach (var type in types)
            foreach (var (rows, n) in shapes)
            {
                long rowBytes = GgmlTypeInfo.RowBytes(type, n), bytes = rows * rowBytes;
                var (weights, activation) = CheckpointLikeRows.MatVecOperands(type, rows, n, new Random(1));
                var result = new float[rows];
                int iterations = (int)Math.Max(3, 200_000_000 / bytes);
                bool interleavable = QwenSharp.Tensors.Kernels.Interleaved8.Eligible(type, rows, n);
                var interleaved = weights;
                if (interleavable)
                {
                    interleaved = (byte[])weights.Clone();
                    fixed (byte* p = interleaved) QwenSharp.Tensors.Kernels.Interleaved8.Interleave(type, p, rows, n);
                }
                var best = new[] { double.MaxValue, double.MaxValue, double.MaxValue };
                fixed (byte* pw = weights, pi = interleaved, pa = activation)
                fixed (float* po = result)
                {
                    for (int round = 0; round < 9; round++)
                        for (int mode = 0; mode < (interleavable ? 3 : 2); mode++)
                        {
                            VecDot.SingleRowDecode = mode == 0;
                            var layout = mode == 2 ? WeightLayout.Interleaved8 : WeightLayout.Rows;
                            byte* w = mode == 2 ? pi : pw;
                            VecDot.MatMulRows(type, layout, w, n, 0, rows, pa, 1, po, rows);
                            double start = ThreadCpuTime.Seconds();
                            for (int i = 0; i < iterations; i++) VecDot.MatMulRows(type, layout, w, n, 0, rows, pa, 1, po, rows);
                            best[mode] = Math.Min(best[mode], (ThreadCpuTime.Seconds() - start) / iterations);
                        }
                    VecDot.SingleRowDecode = false;
                }
                output.WriteLine($"{GgmlTypeInfo.Name(type)} {rows}x{n} one thread, CPU time: single-row {best[0] * 1e3:F3} ms ({bytes / best[0] / 1e9:F1} GB/s), " +
                                 $"multi-row {best[1] * 1e3:F3} ms ({bytes / best[1] / 1e9:F1} GB/s), x{best[0] / best[1]:F2}" +
                                 (interleavable ? $"; interleaved {best[2] * 1e3:F3} ms ({bytes / best[2] / 1e9:F1} GB/s), x{best[1] / best[2]:F2} of multi-row" : ""));
            }
    }
}

using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

using QwenSharp.Tests.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (QWEN_BENCH_SMALLBATCH=1; QWEN_BENCH_SMALLBATCH_TYPES=q8_0,q4_0 to choose): one thread's
/// CPU time per MatMulRows call on the Qwen1.5-0.5B ffn_up (2816×1024) and output (151936×1024) shapes at small
/// batches, the small-batch kernel alternating with the tile kernel (or the per-pair loop) in the same run; thread
/// CPU time, so other processes on the machine only disturb it through caches and memory bandwidth.</summary>
internal static unsafe class SmallBatchMatMulBenchmark
{
    public static void SmallBatchMilliseconds(TextWriter output)
    {
        var typeNames = (Environment.GetEnvironmentVariable("QWEN_BENCH_SMALLBATCH_TYPES") ?? "q8_0,q4_0").Split(',');
        int[] batches = (Environment.GetEnvironmentVariable("QWEN_BENCH_SMALLBATCH_BATCHES") ?? "1,2,4,8").Split(',').Select(int.Parse).ToArray();
        foreach (var typeName in typeNames)
        {
            var type = Enum.GetValues<GgmlType>().Single(t => GgmlTypeInfo.Name(t).Equals(typeName, StringComparison.OrdinalIgnoreCase));
            foreach (var (rows, n) in new (int Rows, int N)[] { (2816, 1024), (151936, 1024) })
            {
                long rowBytes = GgmlTypeInfo.RowBytes(type, n), bytes = rows * rowBytes, actBytes = VecDot.ActivationRowBytes(type, n);
                var rng = new Random(1);
                var weights = GC.AllocateUninitializedArray<byte>((int)bytes, pinned: true);
                var oneRow = CheckpointLikeRows.Row(type, n, rng);
                for (int r = 0; r < rows; r++)
                {
                    if (r % 64 == 0) oneRow = CheckpointLikeRows.Row(type, n, rng);
                    oneRow.CopyTo(weights, r * rowBytes);
                }
                int maxBatch = batches.Max();
                var activations = new byte[maxBatch * actBytes];
                for (int b = 0; b < maxBatch; b++)
                    VecDot.QuantizeActivation(type, TensorTestData.RandomActivations(n, rng), activations.AsSpan((int)(b * actBytes), (int)actBytes));
                var result = new float[maxBatch * rows];
                var small = SmallBatchKernels.Best(type);
                fixed (byte* pw = weights, pa = activations)
                fixed (float* po = result)
                    foreach (int batch in batches)
                    {
                        int iterations = (int)Math.Max(2, 100_000_000 / bytes);
                        var best = new[] { double.MaxValue, double.MaxValue };
                        for (int round = 0; round < 5; round++)
                            for (int mode = 0; mode < 2; mode++)
                            {
                                double start = ThreadCpuTime.Seconds();
                                for (int i = 0; i < iterations; i++)
                                {
                                    if (mode == 1 && batch > 1 && small != null) small(pw, n, 0, rows, pa, batch, po, rows);
                                    else
                                    {
                                        VecDot.TilesOnly = true;
                                        VecDot.MatMulRows(type, pw, n, 0, rows, pa, batch, po, rows);
                                        VecDot.TilesOnly = false;
                                    }
                                }
                                best[mode] = Math.Min(best[mode], (ThreadCpuTime.Seconds() - start) / iterations);
                            }
                        output.WriteLine($"{GgmlTypeInfo.Name(type)} {rows}x{n} batch {batch}: tile/loop {best[0] * 1e3:F3} ms, small-batch {best[1] * 1e3:F3} ms (x{best[0] / best[1]:F2}), per activation {best[1] * 1e3 / batch:F3} ms");
                    }
            }
        }
    }
}

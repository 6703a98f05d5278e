using System.Runtime.InteropServices;
using QwenSharp.Tensors.Attention;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (`bench micro prompt-attention`): BlockAttention.Run, the prompt path's kernel, for one
/// 16-row group against 512 fp32 keys (d 64, causal), one thread, thread CPU time, and the rate in GMAC/s (q·k and
/// p·v together). A second of calls first, so that the timed ones run the JIT's tier-1 code (a short benchmark
/// otherwise times tier-0 and OSR code; DOTNET_TieredCompilation=0 is the sure way).</summary>
internal static unsafe class PromptAttentionBenchmark
{
    public static void Run(TextWriter output)
    {
        const int d = 64, lanes = BlockAttention.Lanes;
        foreach (int keyCount in new[] { 64, 512 })
        {
            var rng = new Random(3);
            float* k = (float*)NativeMemory.Alloc((nuint)(keyCount * d * 4)), v = (float*)NativeMemory.Alloc((nuint)(keyCount * d * 4));
            float* qT = (float*)NativeMemory.Alloc(d * lanes * 4), outT = (float*)NativeMemory.Alloc(d * lanes * 4);
            float* scores = (float*)NativeMemory.Alloc((nuint)(keyCount * lanes * 4));
            int* last = (int*)NativeMemory.Alloc(lanes * 4);
            for (int i = 0; i < keyCount * d; i++) { k[i] = (float)(rng.NextDouble() - 0.5); v[i] = (float)(rng.NextDouble() - 0.5); }
            for (int i = 0; i < d * lanes; i++) qT[i] = (float)(rng.NextDouble() - 0.5);
            for (int r = 0; r < lanes; r++) last[r] = keyCount - lanes + r;
            var warmUp = System.Diagnostics.Stopwatch.StartNew();
            while (warmUp.Elapsed.TotalSeconds < 1) BlockAttention.Run(d, qT, k, v, d, keyCount, last, 0.125f, scores, outT);
            double best = double.MaxValue;
            int iterations = 20000 * 64 / keyCount;
            for (int round = 0; round < 5; round++)
            {
                double start = ThreadCpuTime.Seconds();
                for (int i = 0; i < iterations; i++) BlockAttention.Run(d, qT, k, v, d, keyCount, last, 0.125f, scores, outT);
                best = Math.Min(best, (ThreadCpuTime.Seconds() - start) / iterations);
            }
            double macs = 2.0 * keyCount * d * lanes;
            output.WriteLine($"{keyCount} keys, 16 rows, d {d}: {best * 1e6:F2} us per run, {macs / best / 1e9:F1} GMAC/s");
            foreach (void* p in new[] { (void*)k, v, qT, outT, scores, last }) NativeMemory.Free(p);
        }
    }
}

using System.Runtime.InteropServices;
using System.Numerics.Tensors;
using QwenSharp.Tensors.Attention;

using QwenSharp.Tests.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Microbenchmark (QWEN_BENCH_ATTENTION=1): one layer's decode attention for 8 sequences × 16 heads (the
/// 0.5B shape: MHA, head dim 64, F16 cache), on one thread, in thread CPU time (min over alternating rounds).
/// "block" is what AttentionJob did before SingleRowAttention: per item, the KV head's rows converted to fp32 scratch
/// and one BlockAttention run with one active lane. Also the crossover for items of n rows (GQA groups): one block
/// run vs n single-row runs.</summary>
internal static unsafe class DecodeAttentionBenchmark
{
    private const int Lanes = BlockAttention.Lanes, Sequences = 8, Heads = 16, D = 64, KvDim = Heads * D;

    private static int Rounds => int.TryParse(Environment.GetEnvironmentVariable("QWEN_BENCH_ATTENTION_ROUNDS"), out int r) ? r : 7;

    private static T* Alloc<T>(long count) where T : unmanaged => (T*)NativeMemory.AllocZeroed((nuint)(count * sizeof(T)));

    public static void OneLayerOfDecodeAttention(TextWriter output)
    {
        foreach (int keyCount in new[] { 128, 512 })
        {
            var rng = new Random(keyCount);
            long cacheLength = (long)Sequences * keyCount * KvDim;
            Half* k = Alloc<Half>(cacheLength), v = Alloc<Half>(cacheLength);
            for (long i = 0; i < cacheLength; i++) { k[i] = (Half)(float)(rng.NextDouble() * 2 - 1); v[i] = (Half)(float)(rng.NextDouble() * 2 - 1); }
            // The same keys and values in the KvCache's layout, [sequence][head][key][d]: a head's keys contiguous.
            Half* kh = Alloc<Half>(cacheLength), vh = Alloc<Half>(cacheLength);
            for (int seq = 0; seq < Sequences; seq++)
                for (int key = 0; key < keyCount; key++)
                    for (int head = 0; head < Heads; head++)
                        for (int j = 0; j < D; j++)
                        {
                            long from = ((long)seq * keyCount + key) * KvDim + head * D + j, to = (((long)seq * Heads + head) * keyCount + key) * D + j;
                            kh[to] = k[from]; vh[to] = v[from];
                        }
            float* q = Alloc<float>(Sequences * Heads * D), outp = Alloc<float>(Sequences * Heads * D);
            for (int i = 0; i < Sequences * Heads * D; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
            float* ks = Alloc<float>(keyCount * D), vs = Alloc<float>(keyCount * D), s = Alloc<float>(keyCount * Lanes);
            float* t = Alloc<float>(D * Lanes), o = Alloc<float>(D * Lanes);
            int* last = Alloc<int>(Lanes);
            float scale = 1f / MathF.Sqrt(D);
            {
                Half* KeyHead(int seq, int head) => k + (long)seq * keyCount * KvDim + head * D;
                Half* ValueHead(int seq, int head) => v + (long)seq * keyCount * KvDim + head * D;

                void Block(int rows)
                {
                    for (int seq = 0; seq < Sequences; seq++)
                        for (int head = 0; head < Heads; head += rows)
                        {
                            // As AttentionJob did per item: convert the KV head, transpose the rows' queries, run, copy out.
                            for (int key = 0; key < keyCount; key++)
                            {
                                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(KeyHead(seq, head) + (long)key * KvDim, D), new Span<float>(ks + key * D, D));
                                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(ValueHead(seq, head) + (long)key * KvDim, D), new Span<float>(vs + key * D, D));
                            }
                            new Span<float>(t, D * Lanes).Clear();
                            for (int lane = 0; lane < Lanes; lane++)
                            {
                                last[lane] = keyCount - 1;
                                if (lane < rows && head + lane < Heads) for (int j = 0; j < D; j++) t[j * Lanes + lane] = q[(seq * Heads + head + lane) * D + j];
                            }
                            BlockAttention.Run(D, t, ks, vs, D, keyCount, last, scale, s, o);
                            for (int lane = 0; lane < rows && head + lane < Heads; lane++)
                                for (int j = 0; j < D; j++) outp[(seq * Heads + head + lane) * D + j] = o[j * Lanes + lane];
                        }
                }

                void Single(int rows)
                {
                    // rows queries read the same KV head (a GQA group); at rows = 1 every head has its own.
                    for (int seq = 0; seq < Sequences; seq++)
                        for (int head = 0; head < Heads; head++)
                            SingleRowAttention.Run(D, q + (seq * Heads + head) * D, KeyHead(seq, head / rows * rows), ValueHead(seq, head / rows * rows),
                                KvDim, keyCount, scale, s, outp + (seq * Heads + head) * D);
                }

                void SingleHeadMajor()
                {
                    for (int seq = 0; seq < Sequences; seq++)
                        for (int head = 0; head < Heads; head++)
                        {
                            long at = ((long)seq * Heads + head) * keyCount * D;
                            SingleRowAttention.Run(D, q + (seq * Heads + head) * D, kh + at, vh + at, D, keyCount, scale, s, outp + (seq * Heads + head) * D);
                        }
                }

                void SingleHeadMajorKnownFinite()
                {
                    // as the model calls it: the cache's per-head flag says the rows are finite, so no scan
                    for (int seq = 0; seq < Sequences; seq++)
                        for (int head = 0; head < Heads; head++)
                        {
                            long at = ((long)seq * Heads + head) * keyCount * D;
                            SingleRowAttention.Run(D, q + (seq * Heads + head) * D, kh + at, vh + at, D, keyCount, scale, s, outp + (seq * Heads + head) * D,
                                                   (Half*)null, (Half*)null, 0, rowsFinite: true);
                        }
                }

                void SingleFromScratch()
                {
                    // The alternative to reading halves in place: convert the head's rows to fp32 first.
                    for (int seq = 0; seq < Sequences; seq++)
                        for (int head = 0; head < Heads; head++)
                        {
                            for (int key = 0; key < keyCount; key++)
                            {
                                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(KeyHead(seq, head) + (long)key * KvDim, D), new Span<float>(ks + key * D, D));
                                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(ValueHead(seq, head) + (long)key * KvDim, D), new Span<float>(vs + key * D, D));
                            }
                            SingleRowAttention.Run(D, q + (seq * Heads + head) * D, ks, vs, D, keyCount, scale, s, outp + (seq * Heads + head) * D);
                        }
                }

                var cases = new (string Name, Action Run)[]
                {
                    ("block, 1 row per item (before)", () => Block(1)),
                    ("single row, F16 in place, no prefetch", () => { SingleRowAttention.PrefetchRows = 1 << 30; Single(1); SingleRowAttention.PrefetchRows = 8; }),
                    ("single row, F16 in place, prefetch 8", () => Single(1)),
                    ("single row, head-major (KvCache layout)", SingleHeadMajor),
                    ("single row, head-major, rows known finite", SingleHeadMajorKnownFinite),
                    ("single row, F16 converted to scratch", SingleFromScratch),
                    ("block, 2 rows per item", () => Block(2)),
                    ("single row x2 (GQA 2)", () => Single(2)),
                    ("block, 3 rows per item", () => Block(3)),
                    ("single row x3 (GQA 3)", () => Single(3)),
                    ("block, 4 rows per item", () => Block(4)),
                    ("single row x4 (GQA 4)", () => Single(4)),
                    ("block, 8 rows per item", () => Block(8)),
                    ("single row x8 (GQA 8)", () => Single(8)),
                };
                var best = new double[cases.Length];
                Array.Fill(best, double.MaxValue);
                int iterations = keyCount == 128 ? 20 : 5;
                for (int round = 0; round < Rounds; round++)
                    for (int c = 0; c < cases.Length; c++)
                    {
                        cases[c].Run();
                        double start = ThreadCpuTime.Seconds();
                        for (int i = 0; i < iterations; i++) cases[c].Run();
                        best[c] = Math.Min(best[c], (ThreadCpuTime.Seconds() - start) / iterations);
                    }
                output.WriteLine($"{keyCount} keys, 8 sequences x 16 heads, d 64, F16 cache, one thread (thread CPU ms per layer, best of {Rounds}):");
                for (int c = 0; c < cases.Length; c++) output.WriteLine($"  {cases[c].Name,-40} {best[c] * 1e3,8:F3}");
            }
            foreach (void* p in new[] { (void*)k, v, kh, vh, q, outp, ks, vs, s, t, o, last }) NativeMemory.Free(p);
        }
    }
}

using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Cli.Bench;

/// <summary>The machine's memory read bandwidth as a decoder sees it: threads of a <see cref="ComputePool"/> each
/// stream through their slice of a buffer far larger than the last-level cache and sum it (a read-only pass, like
/// a matmul reading its weights). The best of several passes is reported, since other processes on the machine
/// can only slow a pass down, never speed it up.</summary>
internal static unsafe class MemoryBandwidth
{
    public readonly record struct Result(double GBps, long BufferBytes, int Threads, int Passes);

    /// <summary>A probe that keeps its buffer (resident, filled in parallel) and its threads, so it can be measured
    /// again and again, e.g. right after each benchmark rep: the machine's bandwidth moves from minute to minute.</summary>
    public sealed class Probe : IDisposable
    {
        private readonly ulong* _buffer;
        private readonly long _words;
        private readonly ComputePool _pool;
        private readonly StreamJob _job;

        public Probe(int threads, long bufferBytes)
        {
            if (threads < 1) throw new QwenSharpException($"bandwidth probe: threads must be at least 1, got {threads}");
            if (bufferBytes < 1 << 20) throw new QwenSharpException($"bandwidth probe: the buffer must be at least 1 MiB, got {bufferBytes} bytes");
            _words = bufferBytes / sizeof(ulong);
            // On 2 MiB pages, as the model's repacked weights are: the probe must measure the best the machine streams,
            // or a decode on huge pages would read "more than the bandwidth".
            _buffer = (ulong*)HugePages.Allocate(_words * sizeof(ulong));
            _pool = new ComputePool(threads);
            _job = new StreamJob(_buffer, _words, threads) { Filling = true };
            _pool.Run(_job);        // first touch in parallel, so the pages are resident before any timed pass
            _job.Filling = false;
            _pool.Run(_job);        // warm-up pass
        }

        /// <summary>Bytes of the buffer, all resident from construction to disposal.</summary>
        public long ResidentBytes => _words * sizeof(ulong);

        public Result Measure(int passes = 3)
        {
            if (passes < 1) throw new QwenSharpException($"bandwidth probe: passes must be at least 1, got {passes}");
            double best = 0;
            for (int p = 0; p < passes; p++)
            {
                long start = Stopwatch.GetTimestamp();
                _pool.Run(_job);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                best = Math.Max(best, _words * sizeof(ulong) / seconds / 1e9);
            }
            GC.KeepAlive(_job.Checksum());
            return new Result(best, _words * sizeof(ulong), _pool.ThreadCount, passes);
        }

        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _pool.Dispose();
            NativeMemory.AlignedFree(_buffer);
        }
    }

    /// <summary>Wrapping sum of <paramref name="words"/>: the streaming read. Vector512 -> Vector256 -> Vector128 ->
    /// scalar; four independent accumulators keep several loads in flight.</summary>
    public static ulong Sum(ReadOnlySpan<ulong> words)
    {
        ref ulong start = ref MemoryMarshal.GetReference(words);
        nuint n = (nuint)words.Length, i = 0;
        ulong total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            Vector512<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 32 <= n; i += 32)
            {
                a0 += Vector512.LoadUnsafe(ref start, i);
                a1 += Vector512.LoadUnsafe(ref start, i + 8);
                a2 += Vector512.LoadUnsafe(ref start, i + 16);
                a3 += Vector512.LoadUnsafe(ref start, i + 24);
            }
            total += Vector512.Sum(a0 + a1 + a2 + a3);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            Vector256<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 16 <= n; i += 16)
            {
                a0 += Vector256.LoadUnsafe(ref start, i);
                a1 += Vector256.LoadUnsafe(ref start, i + 4);
                a2 += Vector256.LoadUnsafe(ref start, i + 8);
                a3 += Vector256.LoadUnsafe(ref start, i + 12);
            }
            total += Vector256.Sum(a0 + a1 + a2 + a3);
        }
        else if (Vector128.IsHardwareAccelerated && n >= 8)
        {
            Vector128<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 8 <= n; i += 8)
            {
                a0 += Vector128.LoadUnsafe(ref start, i);
                a1 += Vector128.LoadUnsafe(ref start, i + 2);
                a2 += Vector128.LoadUnsafe(ref start, i + 4);
                a3 += Vector128.LoadUnsafe(ref start, i + 6);
            }
            total += Vector128.Sum(a0 + a1 + a2 + a3);
        }
        for (; i < n; i++) total += Unsafe.Add(ref start, i);
        return total;
    }

    /// <summary>The plain twin of <see cref="Sum"/> that tests compare it with.</summary>
    public static ulong SumScalar(ReadOnlySpan<ulong> words)
    {
        ulong total = 0;
        foreach (ulong w in words) total += w;
        return total;
    }

    /// <summary>One pass over the buffer: each thread fills or sums its own contiguous slice (page-aligned edges).</summary>
    private sealed class StreamJob(ulong* buffer, long words, int threads) : ComputeJob
    {
        private const int WordsPerPage = 4096 / sizeof(ulong);
        private const int MaxSpanWords = int.MaxValue / sizeof(ulong); // a Span's length is an int
        // One result per thread, a cache line apart, so the threads do not share a line while they write.
        private readonly ulong[] _sums = new ulong[threads * 8];
        public bool Filling;

        public override void Execute(int threadIndex, int threadCount)
        {
            long pages = (words + WordsPerPage - 1) / WordsPerPage;
            long start = Math.Min(pages * threadIndex / threadCount * WordsPerPage, words);
            long end = Math.Min(pages * (threadIndex + 1) / threadCount * WordsPerPage, words);
            ulong sum = 0;
            for (long at = start; at < end; at += MaxSpanWords)
            {
                var slice = new Span<ulong>(buffer + at, (int)Math.Min(MaxSpanWords, end - at));
                if (Filling) slice.Fill(0x0101010101010101UL * (ulong)(threadIndex + 1));
                else sum += Sum(slice);
            }
            _sums[threadIndex * 8] = sum;
        }

        public ulong Checksum()
        {
            ulong total = 0;
            for (int t = 0; t < _sums.Length; t += 8) total += _sums[t];
            return total;
        }
    }
}

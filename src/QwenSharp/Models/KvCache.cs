using System.Runtime.InteropServices;
using QwenSharp.Tensors.Attention;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Models;

/// <summary>Element type of the key/value cache. F16 halves its memory (llama.cpp's default); F32 is exact.</summary>
public enum KvCacheType { F16, F32 }

/// <summary>Post-RoPE keys and values of every layer for up to <see cref="SequenceCount"/> sequences of up to
/// <see cref="ContextLength"/> positions. Native memory (a 32K-token cache exceeds .NET's array limits), zeroed
/// lazily by the OS, so untouched positions cost no RAM. Layout per layer: [sequence][KV head][position][head dim],
/// so that one head's keys (and values) over all positions are one contiguous stream: decode attention reads a head's
/// whole history per token, and in a [position][kvDim] layout that was two cache lines out of every KV row (2 KiB at
/// 0.5B), a new page every two keys, which the hardware prefetchers do not follow. Measured (synthetic 0.5B q4_0,
/// `qwen bench -p 1 -n 256 -t 2 --reps 3` with QWENSHARP_PROFILE=1, two alternating pairs): decode attention 2.75 /
/// 2.39 ms per token in the row layout, 1.45 / 1.44 in this one; tg256 46.0 / 51.3 -> 53.4 / 54.8 t/s.
/// Rows go in through <see cref="Store"/>, which also notes an fp16 row holding an infinity or NaN
/// (<see cref="RowsFinite"/>), so that decode attention need not scan a head's history for them every step.</summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly byte*[] _keys;
    private readonly byte*[] _values;
    private readonly int[] _lengths;
    private readonly long _headBytes;   // one head's slice of a position
    private readonly bool[] _nonFinite; // [layer, sequence, KV head]: a row stored since the sequence was cleared holds an infinity or NaN

    public KvCacheType Type { get; }
    public int LayerCount { get; }
    public int SequenceCount { get; }
    public int ContextLength { get; }
    public int KvHeadCount { get; }
    public int HeadDim { get; }
    public int KvDim => KvHeadCount * HeadDim;

    public KvCache(int layers, int sequences, int contextLength, int kvHeads, int headDim, KvCacheType type)
    {
        Type = type;
        LayerCount = layers;
        SequenceCount = sequences;
        ContextLength = contextLength;
        KvHeadCount = kvHeads;
        HeadDim = headDim;
        _headBytes = (long)headDim * (type == KvCacheType.F32 ? 4 : 2);
        _lengths = new int[sequences];
        _nonFinite = new bool[layers * sequences * kvHeads];
        _keys = new byte*[layers];
        _values = new byte*[layers];
        nuint bytes = (nuint)(_headBytes * kvHeads * contextLength * sequences);
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = (byte*)NativeMemory.AllocZeroed(bytes);
            _values[l] = (byte*)NativeMemory.AllocZeroed(bytes);
        }
    }

    public static long BytesFor(int layers, int sequences, int contextLength, int kvDim, KvCacheType type) =>
        2L * layers * sequences * contextLength * kvDim * (type == KvCacheType.F32 ? 4 : 2);

    /// <summary>Positions [0, Length) of the sequence hold valid keys and values.</summary>
    public int Length(int sequence) => _lengths[sequence];

    /// <summary>Forget positions from <paramref name="length"/> on (a new prompt that shares only a prefix).</summary>
    public void Truncate(int sequence, int length)
    {
        if ((uint)length > (uint)_lengths[sequence]) throw new ArgumentOutOfRangeException(nameof(length));
        _lengths[sequence] = length;
    }

    public void Clear(int sequence)
    {
        _lengths[sequence] = 0;
        for (int l = 0; l < LayerCount; l++)
            Array.Clear(_nonFinite, FlagIndex(l, sequence, 0), KvHeadCount);
    }

    /// <summary>One KV head's key and value (<see cref="HeadDim"/> floats each) at a position, in the cache's element
    /// type. An fp16 row is checked as stored (a finite float past ±65504 becomes an infinity; hostile weights make
    /// NaNs), and its head is noted for <see cref="RowsFinite"/>. Threads may store different heads at once.</summary>
    internal void Store(int layer, int sequence, int kvHead, int position, float* key, float* value)
    {
        long offset = (long)position * HeadDim;
        byte* kDst = KeyHead(layer, sequence, kvHead), vDst = ValueHead(layer, sequence, kvHead);
        if (Type == KvCacheType.F32)
        {
            new ReadOnlySpan<float>(key, HeadDim).CopyTo(new Span<float>((float*)kDst + offset, HeadDim));
            new ReadOnlySpan<float>(value, HeadDim).CopyTo(new Span<float>((float*)vDst + offset, HeadDim));
            return;
        }
        ushort* k = (ushort*)kDst + offset, v = (ushort*)vDst + offset;
        Fp16.FromSingle(key, k, HeadDim);
        Fp16.FromSingle(value, v, HeadDim);
        if (!HalfRows.AllFinite(k, HeadDim) || !HalfRows.AllFinite(v, HeadDim))
            _nonFinite[FlagIndex(layer, sequence, kvHead)] = true;
    }

    /// <summary>Every key and value row stored for this head since the sequence was last cleared is finite, so that
    /// decode attention may convert its fp16 rows the fast way without scanning them first (an extra pass over a
    /// head's history on every step: at 512 keys a third of attention's time). Truncation keeps the flag: a stale
    /// "not finite" only sends a head the exact way, which gives the same bits.</summary>
    internal bool RowsFinite(int layer, int sequence, int kvHead) => !_nonFinite[FlagIndex(layer, sequence, kvHead)];

    private int FlagIndex(int layer, int sequence, int kvHead) => (layer * SequenceCount + sequence) * KvHeadCount + kvHead;

    internal void MarkWritten(int sequence, int position)
    {
        if (position + 1 > _lengths[sequence]) _lengths[sequence] = position + 1;
    }

    /// <summary>Position 0 of one KV head's keys in a sequence; position p is p·<see cref="HeadDim"/> elements on.</summary>
    internal byte* KeyHead(int layer, int sequence, int kvHead) => _keys[layer] + HeadOffset(sequence, kvHead);

    /// <summary>Position 0 of one KV head's values in a sequence; position p is p·<see cref="HeadDim"/> elements on.</summary>
    internal byte* ValueHead(int layer, int sequence, int kvHead) => _values[layer] + HeadOffset(sequence, kvHead);

    private long HeadOffset(int sequence, int kvHead) => ((long)sequence * KvHeadCount + kvHead) * ContextLength * _headBytes;

    public void Dispose()
    {
        for (int l = 0; l < LayerCount; l++)
        {
            if (_keys[l] != null) { NativeMemory.Free(_keys[l]); _keys[l] = null; }
            if (_values[l] != null) { NativeMemory.Free(_values[l]); _values[l] = null; }
        }
    }
}

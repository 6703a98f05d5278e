using System.Runtime.InteropServices;

namespace QwenSharp.Models;

/// <summary>Element type of the key/value cache. F16 halves its memory (llama.cpp's default); F32 is exact.</summary>
public enum KvCacheType { F16, F32 }

/// <summary>Post-RoPE keys and values of every layer for up to <see cref="SequenceCount"/> sequences of up to
/// <see cref="ContextLength"/> positions. Native memory (a 32K-token cache exceeds .NET's array limits), zeroed
/// lazily by the OS, so untouched positions cost no RAM. Layout per layer: [sequence][position][kvDim].</summary>
public sealed unsafe class KvCache : IDisposable
{
    private readonly byte*[] _keys;
    private readonly byte*[] _values;
    private readonly int[] _lengths;
    private readonly long _rowBytes;

    public KvCacheType Type { get; }
    public int LayerCount { get; }
    public int SequenceCount { get; }
    public int ContextLength { get; }
    public int KvDim { get; }

    public KvCache(int layers, int sequences, int contextLength, int kvDim, KvCacheType type)
    {
        Type = type;
        LayerCount = layers;
        SequenceCount = sequences;
        ContextLength = contextLength;
        KvDim = kvDim;
        _rowBytes = (long)kvDim * (type == KvCacheType.F32 ? 4 : 2);
        _lengths = new int[sequences];
        _keys = new byte*[layers];
        _values = new byte*[layers];
        nuint bytes = (nuint)(_rowBytes * contextLength * sequences);
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

    public void Clear(int sequence) => _lengths[sequence] = 0;

    internal void MarkWritten(int sequence, int position)
    {
        if (position + 1 > _lengths[sequence]) _lengths[sequence] = position + 1;
    }

    internal byte* KeyRow(int layer, int sequence, int position) =>
        _keys[layer] + ((long)sequence * ContextLength + position) * _rowBytes;

    internal byte* ValueRow(int layer, int sequence, int position) =>
        _values[layer] + ((long)sequence * ContextLength + position) * _rowBytes;

    public void Dispose()
    {
        for (int l = 0; l < LayerCount; l++)
        {
            if (_keys[l] != null) { NativeMemory.Free(_keys[l]); _keys[l] = null; }
            if (_values[l] != null) { NativeMemory.Free(_values[l]); _values[l] = null; }
        }
    }
}

using System.Runtime.InteropServices;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>Another source with its F32 / F16 / BF16 weight matrices quantized into native memory at load (every
/// 2-D *.weight tensor, the embedding included, and the 3-D MoE expert stacks, as llama.cpp quantizes them); vectors
/// (norms, biases) and the MoE router pass through unchanged. A matrix whose rows do not fit the type's blocks gets llama.cpp's fallback type.</summary>
public sealed unsafe class QuantizingTensorSource : ITensorSource
{
    private readonly ITensorSource _inner;
    private readonly List<GgufTensorInfo> _tensors = [];
    private readonly Dictionary<string, GgufTensorInfo> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<int, nint> _quantized = [];   // index -> native buffer
    private bool _disposed;

    public GgmlType Target { get; }

    public string FilePath => _inner.FilePath;

    public long FileSize => _inner.FileSize;

    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    public QuantizingTensorSource(ITensorSource inner, GgmlType target)
    {
        if (target is not (GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K))
            throw new QwenSharpException($"load-time quantization supports q8_0, q4_0 and q4_k, not {GgmlTypeInfo.Name(target)}");
        _inner = inner;
        Target = target;
        try
        {
            foreach (var t in inner.Tensors)
            {
                var type = TypeAfter(t, target);
                if (type == t.Type)
                {
                    Add(new GgufTensorInfo(t.Name, t.Type, t.Dims, t.ElementCount, t.ByteSize, t.Offset, _tensors.Count));
                    continue;
                }
                long rows = t.ElementCount / t.Dims[0], cols = t.Dims[0], rowBytes = GgmlTypeInfo.RowBytes(type, cols);
                long bytes = rowBytes * rows;
                byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 64), 64);
                var info = new GgufTensorInfo(t.Name, type, t.Dims, t.ElementCount, bytes, 0, _tensors.Count);
                _quantized[info.Index] = (nint)buffer;
                Add(info);
                QuantizeRows(inner.GetTensorData(t), t.Type, buffer, type, rows, (int)cols);
            }
        }
        catch
        {
            Free();
            throw;
        }
    }

    /// <summary>The type <paramref name="t"/> gets: the target (or its fallback) for a float matrix, else its own.
    /// The MoE router (ffn_gate_inp) stays as it is, as llama-quantize keeps it: a coarse router flips expert choices.
    /// A 3-D stack of expert matrices is quantized row by row like any matrix.</summary>
    private static GgmlType TypeAfter(GgufTensorInfo t, GgmlType target)
    {
        bool quantize = t.DimCount is 2 or 3 && t.Name.EndsWith(".weight", StringComparison.Ordinal)
            && !t.Name.EndsWith(".ffn_gate_inp.weight", StringComparison.Ordinal)
            && t.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
        return quantize ? RowQuantizer.FitRow(target, t.Dims[0]) : t.Type;
    }

    /// <summary>The tensor bytes <paramref name="inner"/> will have once quantized to <paramref name="target"/>,
    /// without quantizing anything (for the memory check before a load).</summary>
    public static long PlannedBytes(ITensorSource inner, GgmlType target) =>
        inner.Tensors.Sum(t => TypeAfter(t, target) is var type && type == t.Type ? t.ByteSize : GgmlTypeInfo.RowBytes(type, t.Dims[0]) * (t.ElementCount / t.Dims[0]));

    private void Add(GgufTensorInfo t)
    {
        _tensors.Add(t);
        _byName[t.Name] = t;
    }

    private static void QuantizeRows(byte* src, GgmlType srcType, byte* dst, GgmlType dstType, long rows, int cols)
    {
        long srcRowBytes = GgmlTypeInfo.RowBytes(srcType, cols), dstRowBytes = GgmlTypeInfo.RowBytes(dstType, cols);
        Parallel.For(0, rows, () => new float[cols], (r, _, row) =>
        {
            Dequantize.Row(srcType, new ReadOnlySpan<byte>(src + r * srcRowBytes, (int)srcRowBytes), row);
            RowQuantizer.Row(dstType, row, new Span<byte>(dst + r * dstRowBytes, (int)dstRowBytes));
            return row;
        }, _ => { });
    }

    public GgufTensorInfo? FindTensor(string name) => _byName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) => FindTensor(name) ?? _inner.GetTensor(name);

    public byte* GetTensorData(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)tensor.Index >= (uint)_tensors.Count || !ReferenceEquals(_tensors[tensor.Index], tensor))
            throw new ArgumentException($"tensor {tensor.Name} does not belong to {FilePath}", nameof(tensor));
        if (_quantized.TryGetValue(tensor.Index, out nint buffer)) return (byte*)buffer;
        return _inner.GetTensorData(_inner.Tensors[tensor.Index]);
    }

    /// <summary>The quantized buffers are this source's own; other tensors can be rewritten where the inner source's can.</summary>
    public bool CanRewrite(GgufTensorInfo tensor)
    {
        GetTensorData(tensor);   // the same checks: this source's tensor, not disposed
        return _quantized.ContainsKey(tensor.Index) || _inner.CanRewrite(_inner.Tensors[tensor.Index]);
    }

    /// <summary>The quantized buffers are already this source's own; the inner source makes the rest private (a range
    /// outside its mapping is only populated there).</summary>
    public void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges) => _inner.MakePrivate(ranges);

    public ReadOnlySpan<byte> GetTensorSpan(GgufTensorInfo tensor)
    {
        byte* data = GetTensorData(tensor);
        if (tensor.ByteSize > int.MaxValue)
            throw new ModelFileException(FilePath, $"tensor {tensor.Name} has {tensor.ByteSize} bytes, too many for one span");
        return new ReadOnlySpan<byte>(data, (int)tensor.ByteSize);
    }

    private void Free()
    {
        foreach (nint p in _quantized.Values) NativeMemory.AlignedFree((void*)p);
        _quantized.Clear();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Free();
        _inner.Dispose();
    }
}

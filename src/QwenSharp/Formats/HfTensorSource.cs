using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>A HuggingFace safetensors folder seen as GGUF tensors: HF names mapped to GGUF names
/// (<see cref="HfTensorNames"/>), the row-major [out, in] shape reversed into ggml dims {in, out} (the same bytes:
/// each output row is contiguous, as a GGUF matrix's rows are), and F32 / F16 / BF16 used in place, never copied.
/// Any other dtype, or a name that is not a Qwen2 parameter, is refused here. MoE experts are not stacked: each is
/// its own 2-D tensor, named by <see cref="HfTensorNames.ExpertGguf"/>.</summary>
public sealed unsafe class HfTensorSource : ITensorSource
{
    private readonly SafetensorsFolder _folder;
    private readonly List<GgufTensorInfo> _tensors = [];
    private readonly List<(SafetensorsTensorInfo Info, SafetensorsFile Shard)> _origins = [];
    private readonly Dictionary<string, GgufTensorInfo> _byName = new(StringComparer.Ordinal);

    public string FilePath => _folder.DirectoryPath;

    public long FileSize => _folder.TotalBytes;

    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    public SafetensorsFolder Folder => _folder;

    private HfTensorSource(SafetensorsFolder folder)
    {
        _folder = folder;
        foreach (var (info, shard) in folder.Tensors)
        {
            if (HfTensorNames.IsIgnorable(info.Name)) continue;
            string gguf = (HfTensorNames.TryParseExpert(info.Name, out int layer, out int expert, out string projection)
                    ? HfTensorNames.ExpertGguf(layer, expert, projection) : HfTensorNames.ToGguf(info.Name))
                ?? throw new ModelFileException(shard.FilePath, $"tensor {info.Name} is not a Qwen2 parameter (extra tensor)");
            if (!SafetensorsDType.TryGetGgmlType(info.DType, out GgmlType type))
                throw new ModelFileException(shard.FilePath, $"tensor {info.Name} has dtype {info.DType}; only F32, F16 and BF16 can be loaded");
            if (info.Shape.Length is < 1 or > 4)
                throw new ModelFileException(shard.FilePath, $"tensor {info.Name} has {info.Shape.Length} dimensions");
            long[] dims = info.Shape.Reverse().ToArray();
            // HF keeps the shared expert's gate as a [1, H] linear layer; GGUF (and the binder) has the vector [H].
            if (gguf.EndsWith(".ffn_gate_inp_shexp.weight", StringComparison.Ordinal) && dims is [_, 1]) dims = [dims[0]];
            var t = new GgufTensorInfo(gguf, type, dims, info.ElementCount, info.ByteSize, info.Offset, _tensors.Count);
            if (!_byName.TryAdd(gguf, t))
                throw new ModelFileException(shard.FilePath, $"tensor {info.Name} appears twice");
            _tensors.Add(t);
            _origins.Add((info, shard));
        }
    }

    public static HfTensorSource Open(string directory)
    {
        var folder = SafetensorsFolder.Open(directory);
        try
        {
            return new HfTensorSource(folder);
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>The shard file and HF name a tensor came from (for messages).</summary>
    public (SafetensorsTensorInfo Info, SafetensorsFile Shard) Origin(GgufTensorInfo tensor) => _origins[Own(tensor)];

    public GgufTensorInfo? FindTensor(string name) => _byName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) => FindTensor(name)
        ?? throw new ModelFileException(FilePath, $"missing tensor {HfTensorNames.ToHf(name) ?? name} ({name})");

    public byte* GetTensorData(GgufTensorInfo tensor)
    {
        var (info, shard) = _origins[Own(tensor)];
        return shard.GetData(info);
    }

    public ReadOnlySpan<byte> GetTensorSpan(GgufTensorInfo tensor)
    {
        var (info, shard) = _origins[Own(tensor)];
        return shard.GetSpan(info);
    }

    private int Own(GgufTensorInfo tensor)
    {
        if ((uint)tensor.Index >= (uint)_tensors.Count || !ReferenceEquals(_tensors[tensor.Index], tensor))
            throw new ArgumentException($"tensor {tensor.Name} does not belong to {FilePath}", nameof(tensor));
        return tensor.Index;
    }

    public void Dispose() => _folder.Dispose();
}

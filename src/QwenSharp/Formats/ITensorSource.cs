namespace QwenSharp.Formats;

/// <summary>Where a model's tensors come from, under their GGUF names and ggml types and dims (innermost first):
/// a GGUF file, a HuggingFace safetensors folder seen through <see cref="HfTensorSource"/>, or a source whose
/// matrices were quantized at load (<see cref="QuantizingTensorSource"/>). Tensor bytes stay valid until the
/// source is disposed.</summary>
public unsafe interface ITensorSource : IDisposable
{
    /// <summary>The file or folder, for messages.</summary>
    string FilePath { get; }

    /// <summary>Bytes on disk (all shards of a folder).</summary>
    long FileSize { get; }

    IReadOnlyList<GgufTensorInfo> Tensors { get; }

    GgufTensorInfo? FindTensor(string name);

    /// <summary>The tensor, or a <see cref="ModelFileException"/> naming it as missing.</summary>
    GgufTensorInfo GetTensor(string name);

    byte* GetTensorData(GgufTensorInfo tensor);

    ReadOnlySpan<byte> GetTensorSpan(GgufTensorInfo tensor);

    /// <summary>Whether the bytes <see cref="GetTensorData"/> returns may be rewritten in place: memory the source
    /// owns, or a GGUF mapped copy-on-write (false: the file's own shared pages). A load repacks weights only where
    /// this holds.</summary>
    bool CanRewrite(GgufTensorInfo tensor) => false;

    /// <summary>Makes the memory under <paramref name="ranges"/> (tensor bytes for which <see cref="CanRewrite"/> held)
    /// this process's own before it is rewritten, in as few steps as the source can: a GGUF mapping gives them 2 MiB
    /// pages (<see cref="FileMapping.MakePrivate"/>); here, one populate call per range.</summary>
    void MakePrivate(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
        foreach (var (start, bytes) in ranges) FileMapping.PopulatePrivate((byte*)start, bytes);
    }

    /// <summary>Whether <see cref="Release"/> gives memory back to the system (a load moves weights elsewhere only
    /// then, so that they are never held twice).</summary>
    bool CanRelease => false;

    /// <summary>Gives back the memory under <paramref name="ranges"/>: tensor bytes that nothing will read here again
    /// (a load moved them, <see cref="Models.DecodeLayout"/>). Only whole pages inside a range go; its neighbours'
    /// bytes stay readable.</summary>
    void Release(IReadOnlyList<(nint Start, long Bytes)> ranges)
    {
    }
}

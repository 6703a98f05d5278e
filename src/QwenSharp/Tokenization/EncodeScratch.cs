namespace QwenSharp.Tokenization;

/// <summary>Everything one thread needs to encode without allocating: buffers for normalised text, UTF-8 bytes and ids,
/// the BPE merger and the word cache. A tokenizer keeps one per thread.</summary>
internal sealed class EncodeScratch
{
    public readonly GrowableBuffer<char> Normalized = new(256);
    public readonly GrowableBuffer<byte> Utf8 = new(256);
    public readonly GrowableBuffer<int> Ids = new(256);
    public readonly BpeWordMerger Merger = new();
    public readonly BpeWordCache Cache = new();

    /// <summary>Called after each encode: keeps a thread from holding megabytes because it once encoded a whole book.</summary>
    public void Release()
    {
        const int Keep = 1 << 16;
        Normalized.ClearAndTrim(Keep);
        Utf8.ClearAndTrim(Keep);
        Ids.ClearAndTrim(Keep);
    }
}

namespace QwenSharp.Formats;

/// <summary>Fixed numbers of the GGUF format and the limits QwenSharp puts on what it will read.</summary>
public static class GgufConstants
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;

    public const int DefaultAlignment = 32;

    public const string AlignmentKey = "general.alignment";

    /// <summary>ggml tensors have at most four dimensions.</summary>
    public const int MaxDims = 4;

    /// <summary>Arrays of arrays deeper than this are refused; real files never nest at all, and a bound keeps
    /// hostile files from driving the recursive reader arbitrarily deep.</summary>
    public const int MaxArrayDepth = 8;

    /// <summary>Larger alignments make no sense for memory mapping and would risk overflow when padding.</summary>
    public const long MaxAlignment = 1L << 30;

    /// <summary>magic u32 + version u32 + tensor_count u64 + kv_count u64.</summary>
    public const int HeaderSize = 24;

    /// <summary>Smallest possible metadata entry: empty key (u64 length), value type u32, a one-byte value.</summary>
    internal const int MinKeyValueSize = 8 + 4 + 1;

    /// <summary>Smallest possible tensor info: empty name (u64 length), n_dims u32 = 0, type u32, offset u64.</summary>
    internal const int MinTensorInfoSize = 8 + 4 + 4 + 8;
}

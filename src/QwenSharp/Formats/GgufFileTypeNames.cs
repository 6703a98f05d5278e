namespace QwenSharp.Formats;

/// <summary>Names of general.file_type values (llama.cpp's llama_ftype), as Ollama and llama.cpp print them
/// ("Q4_K_M", "Q8_0"): a file's quantization as people call it, which a mixed file's tensor types alone don't say.</summary>
public static class GgufFileTypeNames
{
    private static readonly Dictionary<uint, string> Names = new()
    {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0", [9] = "Q5_1",
        [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M",
        [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K", [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S",
        [22] = "IQ3_XS", [23] = "IQ3_XXS", [24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S", [27] = "IQ3_M",
        [28] = "IQ2_S", [29] = "IQ2_M", [30] = "IQ4_XS", [31] = "IQ1_M", [32] = "BF16", [36] = "TQ1_0", [37] = "TQ2_0",
    };

    /// <summary>The name of a general.file_type value, or null for a value llama.cpp does not define.</summary>
    public static string? Name(uint fileType) => Names.GetValueOrDefault(fileType);

    /// <summary>The file's quantization name: general.file_type when present and known, otherwise the type holding
    /// the most bytes of 2-D tensors (files written without the key, e.g. by older converters).</summary>
    public static string Of(GgufFile file)
    {
        if (FileType(file) is { } ft && Name(ft) is { } name) return name;
        var bytesByType = new Dictionary<Tensors.GgmlType, long>();
        foreach (var t in file.Tensors)
            if (t.DimCount >= 2) bytesByType[t.Type] = bytesByType.GetValueOrDefault(t.Type) + t.ByteSize;
        return bytesByType.Count == 0 ? "unknown" : bytesByType.MaxBy(p => p.Value).Key.ToString().ToUpperInvariant();
    }

    private static uint? FileType(GgufFile file)
    {
        if (!file.Metadata.TryGetValue("general.file_type", out var v) || !v.IsInteger) return null;
        try { return v.AsInt64() is >= 0 and <= uint.MaxValue and var ft ? (uint)ft : null; }
        catch (QwenSharpException) { return null; } // a uint64 beyond int64: not a file type
    }
}

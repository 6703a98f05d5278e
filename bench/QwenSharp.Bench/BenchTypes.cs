using LLama.Native;

namespace QwenSharp.Bench;

/// <summary>A weight type the benchmark can make a model file of, named as llama.cpp's quantize tool names it.</summary>
internal sealed record BenchType(string Name, LLamaFtype Ftype)
{
    /// <summary>The ggml type QwenSharp's writer can produce directly for this file type (plain types only).</summary>
    public QwenSharp.Tensors.GgmlType Ggml => Ftype switch
    {
        LLamaFtype.ALL_F32 => QwenSharp.Tensors.GgmlType.F32,
        LLamaFtype.MOSTLY_F16 => QwenSharp.Tensors.GgmlType.F16,
        LLamaFtype.MOSTLY_BF16 => QwenSharp.Tensors.GgmlType.BF16,
        LLamaFtype.MOSTLY_Q8_0 => QwenSharp.Tensors.GgmlType.Q8_0,
        LLamaFtype.MOSTLY_Q4_0 => QwenSharp.Tensors.GgmlType.Q4_0,
        _ => QwenSharp.Tensors.GgmlType.Q4_K, // K-quant mixes: quantized by llama.cpp from the F32 source
    };

    /// <summary>The file types to compare. K-quant "_M" types are llama.cpp's mixes (some tensors kept at a higher
    /// type), as the published GGUFs are; the plain types quantize every matrix to that type, except that llama.cpp
    /// keeps the (tied) embedding / output head at Q6_K for the 4- and 5-bit block types, again as published files do.</summary>
    public static readonly IReadOnlyList<BenchType> All =
    [
        new("f32", LLamaFtype.ALL_F32),
        new("f16", LLamaFtype.MOSTLY_F16),
        new("bf16", LLamaFtype.MOSTLY_BF16),
        new("q8_0", LLamaFtype.MOSTLY_Q8_0),
        new("q4_0", LLamaFtype.MOSTLY_Q4_0),
        new("q4_1", LLamaFtype.MOSTLY_Q4_1),
        new("q5_0", LLamaFtype.MOSTLY_Q5_0),
        new("q5_1", LLamaFtype.MOSTLY_Q5_1),
        new("q2_k", LLamaFtype.MOSTLY_Q2_K),
        new("q3_k_m", LLamaFtype.MOSTLY_Q3_K_M),
        new("q4_k_m", LLamaFtype.MOSTLY_Q4_K_M),
        new("q5_k_m", LLamaFtype.MOSTLY_Q5_K_M),
        new("q6_k", LLamaFtype.MOSTLY_Q6_K),
    ];

    public const string Default = "q8_0,q4_0,q4_k_m,q6_k,f16,bf16";

    public static IReadOnlyList<BenchType> Parse(string list)
    {
        var result = new List<BenchType>();
        foreach (string name in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var type = All.FirstOrDefault(t => t.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new QwenSharpException($"--types: unknown type '{name}' (known: {string.Join(", ", All.Select(t => t.Name))})");
            if (!result.Contains(type)) result.Add(type);
        }
        if (result.Count == 0) throw new QwenSharpException("--types is empty");
        return result;
    }
}

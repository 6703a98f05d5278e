using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>What `qwen convert --type` asks for: llama.cpp's file types (llama_ftype) of the same names.</summary>
public enum GgufOutputType
{
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_K_M,
    Q6_K,
}

public static class GgufOutputTypes
{
    public static GgufOutputType Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" => GgufOutputType.F32,
        "f16" => GgufOutputType.F16,
        "bf16" => GgufOutputType.BF16,
        "q8_0" => GgufOutputType.Q8_0,
        "q4_0" => GgufOutputType.Q4_0,
        "q4_k_m" => GgufOutputType.Q4_K_M,
        "q6_k" => GgufOutputType.Q6_K,
        _ => throw new QwenSharpException($"--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k_m, q6_k; got '{text}'"),
    };

    /// <summary>general.file_type (llama_ftype): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7,
    /// MOSTLY_Q4_K_M 15, MOSTLY_Q6_K 18, MOSTLY_BF16 32.</summary>
    public static uint FileType(GgufOutputType t) => t switch
    {
        GgufOutputType.F32 => 0,
        GgufOutputType.F16 => 1,
        GgufOutputType.Q4_0 => 2,
        GgufOutputType.Q8_0 => 7,
        GgufOutputType.Q4_K_M => 15,
        GgufOutputType.Q6_K => 18,
        GgufOutputType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The type most matrices get.</summary>
    public static GgmlType BaseType(GgufOutputType t) => t switch
    {
        GgufOutputType.F32 => GgmlType.F32,
        GgufOutputType.F16 => GgmlType.F16,
        GgufOutputType.BF16 => GgmlType.BF16,
        GgufOutputType.Q8_0 => GgmlType.Q8_0,
        GgufOutputType.Q4_0 => GgmlType.Q4_0,
        GgufOutputType.Q4_K_M => GgmlType.Q4_K,
        GgufOutputType.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}

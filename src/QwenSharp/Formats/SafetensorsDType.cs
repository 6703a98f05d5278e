using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>The element types a safetensors header may name (the safetensors spec's list), with their sizes, and the
/// ggml type an engine tensor of that dtype has when the bytes can be used as they are.</summary>
public static class SafetensorsDType
{
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["F64"] = 8, ["I64"] = 8, ["U64"] = 8,
    };

    public static bool IsKnown(string dtype) => Sizes.ContainsKey(dtype);

    /// <summary>Bytes per element of a known dtype.</summary>
    public static int Size(string dtype) => Sizes.TryGetValue(dtype, out int size) ? size
        : throw new QwenSharpException($"unknown safetensors dtype '{dtype}'");

    /// <summary>F32, F16 and BF16 have ggml twins with the same bytes; other dtypes have none.</summary>
    public static bool TryGetGgmlType(string dtype, out GgmlType type)
    {
        switch (dtype)
        {
            case "F32": type = GgmlType.F32; return true;
            case "F16": type = GgmlType.F16; return true;
            case "BF16": type = GgmlType.BF16; return true;
            default: type = default; return false;
        }
    }

    public static string FromGgmlType(GgmlType type) => type switch
    {
        GgmlType.F32 => "F32",
        GgmlType.F16 => "F16",
        GgmlType.BF16 => "BF16",
        _ => throw new QwenSharpException($"{GgmlTypeInfo.Name(type)} has no safetensors dtype"),
    };
}

namespace QwenSharp.Formats;

/// <summary>The value types of GGUF metadata, with the ids the file stores.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>Facts about each value type that both the reader and the writer need.</summary>
public static class GgufValueTypes
{
    public static bool IsKnown(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    public static bool IsInteger(GgufValueType type) => type is GgufValueType.UInt8 or GgufValueType.Int8
        or GgufValueType.UInt16 or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32
        or GgufValueType.UInt64 or GgufValueType.Int64;

    public static bool IsFloat(GgufValueType type) => type is GgufValueType.Float32 or GgufValueType.Float64;

    /// <summary>Bytes a scalar of this type takes in the file, or 0 for the variable-size string and array.</summary>
    public static int FixedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The fewest bytes one value of this type can take in the file (a string is at least its 8-byte length,
    /// an array at least its element type and count); used to reject counts the file cannot possibly hold.</summary>
    internal static int MinEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => FixedSize(type),
    };

    /// <summary>The lower-case name used in messages ("uint32", "string", ...).</summary>
    public static string Name(GgufValueType type) => IsKnown(type) ? type.ToString().ToLowerInvariant() : $"type {(uint)type}";
}

using System.Globalization;

namespace QwenSharp.Formats;

/// <summary>One immutable GGUF metadata value: a boxed scalar, a string, or a <see cref="GgufArray"/>.</summary>
public sealed class GgufValue
{
    public GgufValueType Type { get; }

    /// <summary>byte, sbyte, ushort, short, uint, int, float, bool, ulong, long, double, string or GgufArray,
    /// matching <see cref="Type"/>.</summary>
    public object Value { get; }

    private GgufValue(GgufValueType type, object value)
    {
        Type = type;
        Value = value;
    }

    public static GgufValue From(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue From(sbyte v) => new(GgufValueType.Int8, v);
    public static GgufValue From(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue From(short v) => new(GgufValueType.Int16, v);
    public static GgufValue From(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue From(int v) => new(GgufValueType.Int32, v);
    public static GgufValue From(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue From(long v) => new(GgufValueType.Int64, v);
    public static GgufValue From(float v) => new(GgufValueType.Float32, v);
    public static GgufValue From(double v) => new(GgufValueType.Float64, v);
    public static GgufValue From(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue From(string v) => new(GgufValueType.String, v ?? throw new QwenSharpException("a GGUF string cannot be null"));
    public static GgufValue From(GgufArray v) => new(GgufValueType.Array, v ?? throw new QwenSharpException("a GGUF array cannot be null"));

    /// <summary>A scalar of the given type from its boxed CLR value (which must already be the matching CLR type).</summary>
    internal static GgufValue FromScalar(GgufValueType type, object boxed)
    {
        Type expected = type switch
        {
            GgufValueType.UInt8 => typeof(byte), GgufValueType.Int8 => typeof(sbyte),
            GgufValueType.UInt16 => typeof(ushort), GgufValueType.Int16 => typeof(short),
            GgufValueType.UInt32 => typeof(uint), GgufValueType.Int32 => typeof(int),
            GgufValueType.UInt64 => typeof(ulong), GgufValueType.Int64 => typeof(long),
            GgufValueType.Float32 => typeof(float), GgufValueType.Float64 => typeof(double),
            GgufValueType.Bool => typeof(bool),
            _ => throw new InvalidOperationException($"{type} is not a scalar type"),
        };
        if (boxed.GetType() != expected) throw new InvalidOperationException($"{boxed.GetType().Name} is not {type}");
        return new GgufValue(type, boxed);
    }

    public bool IsInteger => GgufValueTypes.IsInteger(Type);

    public string AsString() => Value as string ?? throw WrongType("string");

    public GgufArray AsArray() => Value as GgufArray ?? throw WrongType("array");

    public bool AsBool() => Value is bool b ? b : throw WrongType("bool");

    /// <summary>Any integer type widened to long; throws for a uint64 above long.MaxValue.</summary>
    public long AsInt64() => Value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v => v <= long.MaxValue ? (long)v : throw new QwenSharpException($"value {v} does not fit in int64"),
        _ => throw WrongType("integer"),
    };

    /// <summary>Any float or integer type as a double.</summary>
    public double AsDouble() => Value switch
    {
        float v => v, double v => v, ulong v => v,
        _ => IsInteger ? AsInt64() : throw WrongType("number"),
    };

    public override string ToString() => Value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };

    private QwenSharpException WrongType(string expected) =>
        new($"GGUF value has type {GgufValueTypes.Name(Type)}, expected {expected}");
}

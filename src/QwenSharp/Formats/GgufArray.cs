using System.Runtime.InteropServices;

namespace QwenSharp.Formats;

/// <summary>An immutable GGUF array. Items are kept in one typed CLR array (string[], int[], float[], ...; nested
/// arrays as GgufValue[]), never as boxed objects, because vocabularies hold 150k+ entries.</summary>
public sealed class GgufArray
{
    private readonly Array _items;

    public GgufValueType ElementType { get; }

    public int Count => _items.Length;

    /// <summary>Takes ownership of <paramref name="items"/>; the caller must not change it afterwards.</summary>
    internal GgufArray(GgufValueType elementType, Array items)
    {
        if (!GgufValueTypes.IsKnown(elementType))
            throw new QwenSharpException($"unknown GGUF array element type {(uint)elementType}");
        if (items.GetType() != StorageType(elementType))
            throw new QwenSharpException($"array of {GgufValueTypes.Name(elementType)} cannot hold {items.GetType().Name}");
        ElementType = elementType;
        _items = items;
    }

    public static GgufArray Of(byte[] items) => new(GgufValueType.UInt8, (byte[])items.Clone());
    public static GgufArray Of(sbyte[] items) => new(GgufValueType.Int8, (sbyte[])items.Clone());
    public static GgufArray Of(ushort[] items) => new(GgufValueType.UInt16, (ushort[])items.Clone());
    public static GgufArray Of(short[] items) => new(GgufValueType.Int16, (short[])items.Clone());
    public static GgufArray Of(uint[] items) => new(GgufValueType.UInt32, (uint[])items.Clone());
    public static GgufArray Of(int[] items) => new(GgufValueType.Int32, (int[])items.Clone());
    public static GgufArray Of(ulong[] items) => new(GgufValueType.UInt64, (ulong[])items.Clone());
    public static GgufArray Of(long[] items) => new(GgufValueType.Int64, (long[])items.Clone());
    public static GgufArray Of(float[] items) => new(GgufValueType.Float32, (float[])items.Clone());
    public static GgufArray Of(double[] items) => new(GgufValueType.Float64, (double[])items.Clone());
    public static GgufArray Of(bool[] items) => new(GgufValueType.Bool, (bool[])items.Clone());

    public static GgufArray Of(string[] items)
    {
        foreach (string s in items)
            if (s is null) throw new QwenSharpException("a GGUF string array cannot hold null");
        return new(GgufValueType.String, (string[])items.Clone());
    }

    /// <summary>An array of arrays; every item must itself be an array value (their element types may differ).</summary>
    public static GgufArray Of(GgufValue[] items)
    {
        foreach (GgufValue v in items)
            if (v is null || v.Type != GgufValueType.Array)
                throw new QwenSharpException("every item of a nested GGUF array must be an array value");
        return new(GgufValueType.Array, (GgufValue[])items.Clone());
    }

    /// <summary>The items of a numeric or bool array, without copying. T must match the element type exactly
    /// (byte for UInt8, int for Int32, float for Float32, bool for Bool, ...).</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        // An exact type test: "is T[]" would let an int[] pass as uint[] (the runtime treats same-size integer
        // arrays as interchangeable).
        if (_items.GetType() != typeof(T[]))
            throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as {typeof(T).Name}");
        return (T[])_items;
    }

    /// <summary>The items of a string array, without copying.</summary>
    public ReadOnlySpan<string> Strings => _items as string[]
        ?? throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as strings");

    /// <summary>The items of an array of arrays, without copying.</summary>
    public ReadOnlySpan<GgufValue> Arrays => _items as GgufValue[]
        ?? throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as nested arrays");

    /// <summary>One item as a value (boxes; for listing, not for bulk reads).</summary>
    public GgufValue this[int index] => _items switch
    {
        GgufValue[] nested => nested[index],
        string[] strings => GgufValue.From(strings[index]),
        _ => GgufValue.FromScalar(ElementType, _items.GetValue(index)!),
    };

    public string[] ToStringArray() => Strings.ToArray();

    public GgufValue[] ToValueArray() => Arrays.ToArray();

    /// <summary>Any integer array widened to long. Throws if an unsigned 64-bit item does not fit.</summary>
    public long[] ToInt64Array()
    {
        // Switch on the declared element type, not with "is T[]": the runtime lets an int[] pass as uint[] (and
        // likewise for the other same-size integer pairs), which would silently flip signs.
        var result = new long[Count];
        switch (ElementType)
        {
            case GgufValueType.UInt8: Widen(AsSpan<byte>(), result, v => v); break;
            case GgufValueType.Int8: Widen(AsSpan<sbyte>(), result, v => v); break;
            case GgufValueType.UInt16: Widen(AsSpan<ushort>(), result, v => v); break;
            case GgufValueType.Int16: Widen(AsSpan<short>(), result, v => v); break;
            case GgufValueType.UInt32: Widen(AsSpan<uint>(), result, v => v); break;
            case GgufValueType.Int32: Widen(AsSpan<int>(), result, v => v); break;
            case GgufValueType.Int64: AsSpan<long>().CopyTo(result); break;
            case GgufValueType.UInt64:
                ReadOnlySpan<ulong> big = AsSpan<ulong>();
                for (int i = 0; i < big.Length; i++)
                {
                    if (big[i] > long.MaxValue) throw new QwenSharpException($"array item {i} = {big[i]} does not fit in int64");
                    result[i] = (long)big[i];
                }
                break;
            default: throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as integers");
        }
        return result;
    }

    /// <summary>Any float or integer array as doubles.</summary>
    public double[] ToDoubleArray()
    {
        var result = new double[Count];
        switch (ElementType)
        {
            case GgufValueType.Float64: AsSpan<double>().CopyTo(result); break;
            case GgufValueType.Float32: Widen(AsSpan<float>(), result, v => v); break;
            case GgufValueType.UInt64: Widen(AsSpan<ulong>(), result, v => v); break;
            default:
                if (!GgufValueTypes.IsInteger(ElementType))
                    throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as numbers");
                long[] ints = ToInt64Array();
                for (int i = 0; i < ints.Length; i++) result[i] = ints[i];
                break;
        }
        return result;
    }

    private static void Widen<TFrom, TTo>(ReadOnlySpan<TFrom> from, TTo[] to, Func<TFrom, TTo> convert)
    {
        for (int i = 0; i < from.Length; i++) to[i] = convert(from[i]);
    }

    /// <summary>Any float or integer array as floats (float64 items are rounded).</summary>
    public float[] ToFloatArray()
    {
        if (ElementType == GgufValueType.Float32) return AsSpan<float>().ToArray();
        double[] d = ToDoubleArray();
        var result = new float[d.Length];
        for (int i = 0; i < d.Length; i++) result[i] = (float)d[i];
        return result;
    }

    public override string ToString() => $"[{Count} x {GgufValueTypes.Name(ElementType)}]";

    /// <summary>The CLR array type that holds items of this element type.</summary>
    internal static Type StorageType(GgufValueType elementType) => elementType switch
    {
        GgufValueType.UInt8 => typeof(byte[]),
        GgufValueType.Int8 => typeof(sbyte[]),
        GgufValueType.UInt16 => typeof(ushort[]),
        GgufValueType.Int16 => typeof(short[]),
        GgufValueType.UInt32 => typeof(uint[]),
        GgufValueType.Int32 => typeof(int[]),
        GgufValueType.Float32 => typeof(float[]),
        GgufValueType.Bool => typeof(bool[]),
        GgufValueType.String => typeof(string[]),
        GgufValueType.Array => typeof(GgufValue[]),
        GgufValueType.UInt64 => typeof(ulong[]),
        GgufValueType.Int64 => typeof(long[]),
        GgufValueType.Float64 => typeof(double[]),
        _ => throw new QwenSharpException($"unknown GGUF value type {(uint)elementType}"),
    };

    /// <summary>The raw items for the writer (numeric arrays as bytes in memory order, which is little-endian here).</summary>
    internal Array Items => _items;

    internal ReadOnlySpan<byte> NumericBytes() => ElementType switch
    {
        GgufValueType.UInt8 => AsSpan<byte>(),
        GgufValueType.Int8 => MemoryMarshal.AsBytes(AsSpan<sbyte>()),
        GgufValueType.UInt16 => MemoryMarshal.AsBytes(AsSpan<ushort>()),
        GgufValueType.Int16 => MemoryMarshal.AsBytes(AsSpan<short>()),
        GgufValueType.UInt32 => MemoryMarshal.AsBytes(AsSpan<uint>()),
        GgufValueType.Int32 => MemoryMarshal.AsBytes(AsSpan<int>()),
        GgufValueType.Float32 => MemoryMarshal.AsBytes(AsSpan<float>()),
        GgufValueType.UInt64 => MemoryMarshal.AsBytes(AsSpan<ulong>()),
        GgufValueType.Int64 => MemoryMarshal.AsBytes(AsSpan<long>()),
        GgufValueType.Float64 => MemoryMarshal.AsBytes(AsSpan<double>()),
        GgufValueType.Bool => MemoryMarshal.AsBytes(AsSpan<bool>()),
        _ => throw new InvalidOperationException("not a numeric array"),
    };
}

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
        if (_items is not T[] typed)
            throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as {typeof(T).Name}");
        return typed;
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
        var result = new long[Count];
        switch (_items)
        {
            case byte[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case sbyte[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case ushort[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case short[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case uint[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case int[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case long[] a: a.CopyTo(result, 0); break;
            case ulong[] a:
                for (int i = 0; i < a.Length; i++)
                {
                    if (a[i] > long.MaxValue) throw new QwenSharpException($"array item {i} = {a[i]} does not fit in int64");
                    result[i] = (long)a[i];
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
        switch (_items)
        {
            case double[] a: a.CopyTo(result, 0); break;
            case float[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            case ulong[] a: for (int i = 0; i < a.Length; i++) result[i] = a[i]; break;
            default:
                if (!GgufValueTypes.IsInteger(ElementType))
                    throw new QwenSharpException($"array of {GgufValueTypes.Name(ElementType)} read as numbers");
                long[] ints = ToInt64Array();
                for (int i = 0; i < ints.Length; i++) result[i] = ints[i];
                break;
        }
        return result;
    }

    /// <summary>Any float or integer array as floats (float64 items are rounded).</summary>
    public float[] ToFloatArray()
    {
        if (_items is float[] f) return (float[])f.Clone();
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

    internal ReadOnlySpan<byte> NumericBytes() => _items switch
    {
        byte[] a => a,
        sbyte[] a => MemoryMarshal.AsBytes<sbyte>(a),
        ushort[] a => MemoryMarshal.AsBytes<ushort>(a),
        short[] a => MemoryMarshal.AsBytes<short>(a),
        uint[] a => MemoryMarshal.AsBytes<uint>(a),
        int[] a => MemoryMarshal.AsBytes<int>(a),
        float[] a => MemoryMarshal.AsBytes<float>(a),
        ulong[] a => MemoryMarshal.AsBytes<ulong>(a),
        long[] a => MemoryMarshal.AsBytes<long>(a),
        double[] a => MemoryMarshal.AsBytes<double>(a),
        bool[] a => MemoryMarshal.AsBytes<bool>(a),
        _ => throw new InvalidOperationException("not a numeric array"),
    };
}

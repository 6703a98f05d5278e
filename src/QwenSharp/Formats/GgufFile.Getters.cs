using System.Diagnostics.CodeAnalysis;

namespace QwenSharp.Formats;

/// <summary>Typed metadata getters. A missing key or a value of the wrong type is a problem with the file, so
/// they throw ModelFileException naming the file and the key. The TryGet forms return false only for a missing key;
/// a present key of the wrong type still throws, because silently ignoring it would hide a broken file.</summary>
public sealed unsafe partial class GgufFile
{
    public bool TryGet(string key, [MaybeNullWhen(false)] out GgufValue value) => Metadata.TryGetValue(key, out value);

    public GgufValue Get(string key) => TryGet(key, out GgufValue? value) ? value
        : throw new ModelFileException(FilePath, $"missing metadata key {key}");

    public string GetString(string key) => AsString(key, Get(key));

    public long GetInteger(string key) => AsInteger(key, Get(key));

    public float GetFloat(string key) => AsFloat(key, Get(key));

    public bool GetBool(string key) => AsBool(key, Get(key));

    public string[] GetStringArray(string key) => Convert(key, ArrayOf(key, Get(key), "string"), a => a.ToStringArray());

    public long[] GetIntegerArray(string key) => Convert(key, ArrayOf(key, Get(key), "integer"), a => a.ToInt64Array());

    public float[] GetFloatArray(string key) => Convert(key, ArrayOf(key, Get(key), "number"), a => a.ToFloatArray());

    public GgufArray GetArray(string key) => ArrayOf(key, Get(key), null);

    public bool TryGetString(string key, [MaybeNullWhen(false)] out string value)
    {
        value = TryGet(key, out GgufValue? v) ? AsString(key, v) : null;
        return value != null;
    }

    public bool TryGetInteger(string key, out long value)
    {
        bool found = TryGet(key, out GgufValue? v);
        value = found ? AsInteger(key, v!) : 0;
        return found;
    }

    public bool TryGetFloat(string key, out float value)
    {
        bool found = TryGet(key, out GgufValue? v);
        value = found ? AsFloat(key, v!) : 0;
        return found;
    }

    public bool TryGetBool(string key, out bool value)
    {
        bool found = TryGet(key, out GgufValue? v);
        value = found && AsBool(key, v!);
        return found;
    }

    public bool TryGetArray(string key, [MaybeNullWhen(false)] out GgufArray value)
    {
        value = TryGet(key, out GgufValue? v) ? ArrayOf(key, v, null) : null;
        return value != null;
    }

    private string AsString(string key, GgufValue v) =>
        v.Type == GgufValueType.String ? v.AsString() : throw WrongType(key, v, "string");

    private long AsInteger(string key, GgufValue v)
    {
        if (!v.IsInteger) throw WrongType(key, v, "an integer");
        if (v.Value is ulong big && big > long.MaxValue)
            throw new ModelFileException(FilePath, $"key {key} = {big} does not fit in int64");
        return v.AsInt64();
    }

    private float AsFloat(string key, GgufValue v) =>
        v.IsInteger || GgufValueTypes.IsFloat(v.Type) ? (float)v.AsDouble() : throw WrongType(key, v, "a number");

    private bool AsBool(string key, GgufValue v) =>
        v.Type == GgufValueType.Bool ? v.AsBool() : throw WrongType(key, v, "bool");

    /// <summary>The array value of <paramref name="key"/>, checking its element kind ("string", "integer", "number")
    /// when one is asked for.</summary>
    private GgufArray ArrayOf(string key, GgufValue v, string? elementKind)
    {
        if (v.Type != GgufValueType.Array) throw WrongType(key, v, elementKind is null ? "an array" : $"an array of {elementKind}");
        GgufArray array = v.AsArray();
        bool fits = elementKind switch
        {
            "string" => array.ElementType == GgufValueType.String,
            "integer" => GgufValueTypes.IsInteger(array.ElementType),
            "number" => GgufValueTypes.IsInteger(array.ElementType) || GgufValueTypes.IsFloat(array.ElementType),
            _ => true,
        };
        if (!fits)
            throw new ModelFileException(FilePath,
                $"key {key} has type array of {GgufValueTypes.Name(array.ElementType)}, expected an array of {elementKind}");
        return array;
    }

    /// <summary>Runs a conversion that can only fail on values (a uint64 too big for int64) and names the key if it does.</summary>
    private T Convert<T>(string key, GgufArray array, Func<GgufArray, T> convert)
    {
        try { return convert(array); }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(FilePath, $"key {key}: {e.Message}", e);
        }
    }

    private ModelFileException WrongType(string key, GgufValue v, string expected)
    {
        string actual = v.Value is GgufArray a ? $"array of {GgufValueTypes.Name(a.ElementType)}" : GgufValueTypes.Name(v.Type);
        return new ModelFileException(FilePath, $"key {key} has type {actual}, expected {expected}");
    }
}

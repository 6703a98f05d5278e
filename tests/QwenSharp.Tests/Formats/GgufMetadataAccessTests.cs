using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>Typed getters on GgufFile, and the GgufValue / GgufArray accessors they rest on.</summary>
public class GgufMetadataAccessTests
{
    private static GgufFile OpenSample()
    {
        var w = new GgufWriter();
        w.Add("s", "text");
        w.Add("u32", 7u);
        w.Add("big", ulong.MaxValue);
        w.Add("f32", 0.5f);
        w.Add("u8", (byte)1);
        w.Add("b", true);
        w.AddArray("ints", new[] { -1, 2 });
        w.AddArray("bigs", new[] { 1UL, ulong.MaxValue });
        w.AddArray("strs", new[] { "x", "y" });
        w.AddArray("floats", new[] { 0.25f });
        return GgufFile.Open(GgufTestFiles.Write(w));
    }

    private static void FileError(Action action, string fragment)
    {
        var e = Assert.Throws<ModelFileException>(action);
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"expected \"{fragment}\" in: {e.Message}");
        Assert.EndsWith(".gguf", e.FilePath);
    }

    [Fact]
    public void Missing_keys_and_wrong_types_name_the_key()
    {
        using GgufFile g = OpenSample();
        FileError(() => g.GetString("nope"), "missing metadata key nope");
        FileError(() => g.GetString("u32"), "key u32 has type uint32, expected string");
        FileError(() => g.GetInteger("s"), "key s has type string, expected an integer");
        FileError(() => g.GetInteger("f32"), "key f32 has type float32, expected an integer");
        FileError(() => g.GetInteger("big"), "key big = 18446744073709551615 does not fit in int64");
        FileError(() => g.GetFloat("s"), "key s has type string, expected a number");
        FileError(() => g.GetBool("u8"), "key u8 has type uint8, expected bool");
        FileError(() => g.GetStringArray("ints"), "key ints has type array of int32, expected an array of string");
        FileError(() => g.GetStringArray("s"), "key s has type string, expected an array of string");
        FileError(() => g.GetIntegerArray("floats"), "key floats has type array of float32, expected an array of integer");
        FileError(() => g.GetIntegerArray("bigs"), "key bigs: array item 1 = 18446744073709551615 does not fit in int64");
        FileError(() => g.GetFloatArray("strs"), "key strs has type array of string, expected an array of number");
        FileError(() => g.GetArray("u32"), "key u32 has type uint32, expected an array");
    }

    [Fact]
    public void Getters_convert_between_numeric_types()
    {
        using GgufFile g = OpenSample();
        Assert.Equal(7, g.GetInteger("u32"));
        Assert.Equal(7f, g.GetFloat("u32"));
        Assert.Equal(0.5f, g.GetFloat("f32"));
        Assert.Equal(new[] { -1f, 2f }, g.GetFloatArray("ints"));
        Assert.Equal(new[] { 0.25f }, g.GetFloatArray("floats"));
        Assert.Equal(new[] { "x", "y" }, g.GetStringArray("strs"));
    }

    [Fact]
    public void TryGet_variants_are_false_only_for_missing_keys()
    {
        using GgufFile g = OpenSample();
        Assert.True(g.TryGetString("s", out string? s));
        Assert.Equal("text", s);
        Assert.False(g.TryGetString("nope", out _));
        Assert.True(g.TryGetInteger("u32", out long i));
        Assert.Equal(7, i);
        Assert.False(g.TryGetInteger("nope", out _));
        Assert.True(g.TryGetFloat("f32", out float f));
        Assert.Equal(0.5f, f);
        Assert.False(g.TryGetFloat("nope", out _));
        Assert.True(g.TryGetBool("b", out bool b));
        Assert.True(b);
        Assert.True(g.TryGetArray("strs", out GgufArray? a));
        Assert.Equal(2, a.Count);
        Assert.False(g.TryGetArray("nope", out _));
        Assert.True(g.TryGet("u8", out GgufValue? v));
        Assert.Equal(GgufValueType.UInt8, v.Type);
        FileError(() => g.TryGetInteger("s", out _), "key s has type string, expected an integer");
        FileError(() => g.TryGetString("u32", out _), "key u32 has type uint32, expected string");
    }

    [Fact]
    public void Metadata_keeps_file_order_and_looks_up_by_key()
    {
        using GgufFile g = OpenSample();
        Assert.Equal(10, g.Metadata.Count);
        Assert.Equal("s", g.Metadata[0].Key);
        Assert.Equal("floats", g.Metadata[9].Key);
        Assert.Equal(["s", "u32", "big", "f32", "u8", "b", "ints", "bigs", "strs", "floats"], g.Metadata.Keys);
        Assert.True(g.Metadata.ContainsKey("big"));
        Assert.False(g.Metadata.TryGetValue("nope", out _));
        Assert.Throws<KeyNotFoundException>(() => g.Metadata["nope"]);
    }

    [Fact]
    public void Value_accessors_check_the_type()
    {
        Assert.Equal("x", GgufValue.From("x").AsString());
        Assert.Equal(-3, GgufValue.From((sbyte)-3).AsInt64());
        Assert.Equal(65535, GgufValue.From((ushort)65535).AsInt64());
        Assert.Equal(1.5, GgufValue.From(1.5f).AsDouble());
        Assert.Equal(1.8446744073709552E19, GgufValue.From(ulong.MaxValue).AsDouble());
        Assert.Equal(-7.0, GgufValue.From(-7L).AsDouble());
        Assert.True(GgufValue.From(true).AsBool());
        Assert.Throws<QwenSharpException>(() => GgufValue.From(1).AsString());
        Assert.Throws<QwenSharpException>(() => GgufValue.From("1").AsInt64());
        Assert.Throws<QwenSharpException>(() => GgufValue.From(1.0).AsInt64());
        Assert.Throws<QwenSharpException>(() => GgufValue.From(ulong.MaxValue).AsInt64());
        Assert.Throws<QwenSharpException>(() => GgufValue.From(1).AsBool());
        Assert.Throws<QwenSharpException>(() => GgufValue.From(1).AsArray());
        Assert.Equal("0.5", GgufValue.From(0.5).ToString());
        Assert.Equal("true", GgufValue.From(true).ToString());
        Assert.Equal("[3 x int32]", GgufValue.From(GgufArray.Of(new[] { 1, 2, 3 })).ToString());
    }

    [Fact]
    public void Array_spans_must_name_the_exact_element_type()
    {
        GgufArray ints = GgufArray.Of(new[] { -1, 2 });
        Assert.Equal(-1, ints.AsSpan<int>()[0]);
        // The runtime would let an int[] pass as uint[]; the array must not.
        Assert.Throws<QwenSharpException>(() => ints.AsSpan<uint>().Length);
        Assert.Throws<QwenSharpException>(() => ints.AsSpan<float>().Length);
        Assert.Throws<QwenSharpException>(() => ints.Strings.Length);
        Assert.Throws<QwenSharpException>(() => ints.Arrays.Length);
        Assert.Throws<QwenSharpException>(() => GgufArray.Of(["a"]).ToInt64Array());
        Assert.Equal(new long[] { -1, 2 }, ints.ToInt64Array());
        Assert.Equal(new[] { -1.0, 2.0 }, GgufArray.Of(new short[] { -1, 2 }).ToDoubleArray());
        Assert.Equal(new long[] { 255 }, GgufArray.Of(new byte[] { 255 }).ToInt64Array());
        Assert.Equal(new long[] { -1 }, GgufArray.Of(new sbyte[] { -1 }).ToInt64Array());
        Assert.Equal(new long[] { -1 }, GgufArray.Of(new long[] { -1 }).ToInt64Array());
        Assert.Equal(GgufValueType.Int32, ints[1].Type);
        Assert.Equal(2, ints[1].AsInt64());
        Assert.Equal("b", GgufArray.Of(["a", "b"])[1].AsString());
    }
}

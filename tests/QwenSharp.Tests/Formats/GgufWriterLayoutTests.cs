using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Formats;

/// <summary>The writer's bytes compared with files assembled field by field from the GGUF spec.</summary>
public class GgufWriterLayoutTests
{
    private static byte[] Written(GgufWriter writer)
    {
        using var stream = new MemoryStream();
        writer.Write(stream);
        return stream.ToArray();
    }

    [Fact]
    public void Writes_header_metadata_tensor_infos_and_padded_data_as_the_spec_lays_them_out()
    {
        byte[] a = GgufTestFiles.Pattern(12, 1), b = GgufTestFiles.Pattern(68, 2);
        var writer = new GgufWriter();
        writer.Add("general.architecture", "qwen2");
        writer.Add("x.count", 7u);
        writer.AddArray("x.list", new[] { 1, -2 });
        writer.AddTensor("a", GgmlType.F32, [3], a);
        writer.AddTensor("b", GgmlType.Q8_0, [32, 2], b);

        var expected = new RawGguf().Header(3, 2, 3);
        expected.Key("general.architecture", 8).Str("qwen2");
        expected.Key("x.count", 4).U32(7);
        expected.Key("x.list", 9).ArrayHeader(5, 2).U32(1).U32(unchecked((uint)-2));
        expected.TensorInfo("a", 0, [3], 0);
        expected.TensorInfo("b", 8, [32, 2], 32); // 12 bytes of "a" padded to 32
        expected.PadTo(32).Bytes(a).PadTo(32).Bytes(b).PadTo(32);

        Assert.Equal(expected.ToArray(), Written(writer));
    }

    [Fact]
    public void A_non_default_alignment_is_written_first_as_uint32_and_used_for_every_offset()
    {
        byte[] a = GgufTestFiles.Pattern(4, 3), b = GgufTestFiles.Pattern(8, 4);
        var writer = new GgufWriter(version: 2, alignment: 64);
        writer.Add("k", (byte)5);
        writer.AddTensor("a", GgmlType.F32, [1], a);
        writer.AddTensor("b", GgmlType.F16, [4], b);

        var expected = new RawGguf().Header(2, 2, 2);
        expected.Key("general.alignment", 4).U32(64);
        expected.Key("k", 0).U8(5);
        expected.TensorInfo("a", 0, [1], 0);
        expected.TensorInfo("b", 1, [4], 64);
        expected.PadTo(64).Bytes(a).PadTo(64).Bytes(b).PadTo(64);

        Assert.Equal(expected.ToArray(), Written(writer));
    }

    [Fact]
    public void Nested_arrays_repeat_the_element_type_and_count_for_each_inner_array()
    {
        var writer = new GgufWriter();
        writer.AddArray("n", [GgufValue.From(GgufArray.Of(["é"])), GgufValue.From(GgufArray.Of(Array.Empty<uint>()))]);

        var expected = new RawGguf().Header(3, 0, 1);
        expected.Key("n", 9).ArrayHeader(9, 2);
        expected.ArrayHeader(8, 1).U64(2).U8(0xC3).U8(0xA9);
        expected.ArrayHeader(4, 0);
        expected.PadTo(32);

        Assert.Equal(expected.ToArray(), Written(writer));
    }

    [Fact]
    public void Every_scalar_type_is_written_little_endian_with_its_spec_id()
    {
        var writer = new GgufWriter();
        writer.Add("u8", (byte)0xAB);
        writer.Add("i8", (sbyte)-2);
        writer.Add("u16", (ushort)0xBEEF);
        writer.Add("i16", (short)-3);
        writer.Add("u32", 0xDEADBEEFu);
        writer.Add("i32", -4);
        writer.Add("f32", 1.5f);
        writer.Add("bool", true);
        writer.Add("str", "");
        writer.Add("u64", 0x0123456789ABCDEFUL);
        writer.Add("i64", -5L);
        writer.Add("f64", -0.25);

        var expected = new RawGguf().Header(3, 0, 12);
        expected.Key("u8", 0).U8(0xAB);
        expected.Key("i8", 1).U8(0xFE);
        expected.Key("u16", 2).Bytes([0xEF, 0xBE]);
        expected.Key("i16", 3).U16(0xFFFD);
        expected.Key("u32", 4).Bytes([0xEF, 0xBE, 0xAD, 0xDE]);
        expected.Key("i32", 5).U32(0xFFFFFFFC);
        expected.Key("f32", 6).Bytes([0x00, 0x00, 0xC0, 0x3F]);
        expected.Key("bool", 7).U8(1);
        expected.Key("str", 8).U64(0);
        expected.Key("u64", 10).Bytes([0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01]);
        expected.Key("i64", 11).U64(0xFFFFFFFFFFFFFFFB);
        expected.Key("f64", 12).Bytes([0, 0, 0, 0, 0, 0, 0xD0, 0xBF]);
        expected.PadTo(32);

        Assert.Equal(expected.ToArray(), Written(writer));
    }
}

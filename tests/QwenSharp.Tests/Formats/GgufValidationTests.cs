using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>Hand-crafted broken files, each refused with a ModelFileException that says what is wrong.</summary>
public class GgufValidationTests
{
    private const uint F32 = 0, Q8_0 = 8, TypeU32 = 4, TypeString = 8, TypeArray = 9;

    /// <summary>A valid file with the given metadata writer and tensors ((name, type, dims, offset, bytes) each);
    /// the data section holds <paramref name="dataBytes"/> bytes.</summary>
    private static RawGguf Build(int kvCount, Action<RawGguf>? kvs, (string Name, uint Type, ulong[] Dims, ulong Offset)[] tensors,
        int dataBytes, int alignment = 32, uint version = 3)
    {
        var raw = new RawGguf().Header(version, (ulong)tensors.Length, (ulong)kvCount);
        kvs?.Invoke(raw);
        foreach (var t in tensors) raw.TensorInfo(t.Name, t.Type, t.Dims, t.Offset);
        raw.PadTo(alignment);
        raw.Bytes(new byte[dataBytes]);
        return raw;
    }

    private static byte[] OneTensor(ulong[] dims, uint type = F32, ulong offset = 0, int dataBytes = 16) =>
        Build(0, null, [("t", type, dims, offset)], dataBytes).ToArray();

    private static byte[] Truncate(byte[] bytes, int length) => bytes[..length];

    [Fact]
    public void The_valid_base_files_used_below_open()
    {
        using (GgufFile.Open(GgufTestFiles.WriteBytes(OneTensor([4])))) { }
        using (GgufFile.Open(GgufTestFiles.WriteBytes(Build(1, r => r.Key("general.name", TypeString).Str("x"),
            [("a", F32, [4], 0), ("b", Q8_0, [32], 32)], 32 + 34).ToArray()))) { }
    }

    [Fact]
    public void Bad_magic() =>
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, 0, 0, magic: 0x4C4C4747).PadTo(32).ToArray(), "not a GGUF file");

    [Theory]
    [InlineData(1u, "GGUF version 1 is not supported")]
    [InlineData(0u, "unsupported GGUF version 0")]
    [InlineData(4u, "unsupported GGUF version 4")]
    [InlineData(0x03000000u, "big-endian GGUF files are not supported")]
    public void Unsupported_versions(uint version, string fragment) =>
        GgufTestFiles.AssertRejected(new RawGguf().Header(version, 0, 0).PadTo(32).ToArray(), fragment);

    [Theory]
    [InlineData(0, "truncated while reading header (magic)")]
    [InlineData(3, "truncated while reading header (magic)")]
    [InlineData(6, "truncated while reading header (version)")]
    [InlineData(10, "truncated while reading header (tensor count)")]
    [InlineData(23, "truncated while reading header (metadata count)")]
    public void Truncated_header(int length, string fragment) =>
        GgufTestFiles.AssertRejected(Truncate(OneTensor([4]), length), fragment);

    [Fact]
    public void Truncation_inside_metadata_names_the_entry_and_field()
    {
        // Long names keep the truncated files above the minimum size the entry counts imply, so the reader gets as
        // far as the cut instead of refusing the counts up front.
        string key0 = "general.name." + new string('x', 60), key1 = "tokenizer.ggml.tokens." + new string('y', 60);
        var raw = new RawGguf().Header(3, 0, 3);
        long key0At = raw.Length;
        raw.Key(key0, TypeString);
        long value0At = raw.Length;
        raw.Str("tiny");
        raw.Key(key1, TypeArray).ArrayHeader(TypeString, 3).Str("a").Str("bb");
        long item2At = raw.Length;
        raw.Str("ccc");
        raw.Key("n", TypeU32);
        long value2At = raw.Length;
        raw.U32(5);
        byte[] full = raw.ToArray();
        using (GgufFile.Open(GgufTestFiles.WriteBytes(full))) { }

        GgufTestFiles.AssertRejected(Truncate(full, (int)key0At + 40), "truncated while reading metadata entry 0 (key): string of 73 bytes but only 32 bytes left");
        GgufTestFiles.AssertRejected(Truncate(full, (int)value0At - 2), $"truncated while reading metadata entry 0 (value type of {key0})");
        GgufTestFiles.AssertRejected(Truncate(full, (int)value0At + 10), $"truncated while reading metadata entry 0 (value of {key0})");
        GgufTestFiles.AssertRejected(Truncate(full, (int)item2At + 9), $"truncated while reading metadata entry 1 (value of {key1}, item 2)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)value2At + 3), "truncated while reading metadata entry 2 (value of n)");
    }

    [Fact]
    public void Truncation_inside_tensor_infos_names_the_tensor_and_field()
    {
        string name = "blk.0.attn_q.weight." + new string('z', 40);
        var raw = new RawGguf().Header(3, 2, 0).TensorInfo("a", F32, [4], 0);
        long second = raw.Length;
        raw.TensorInfo(name, F32, [2, 2], 32);
        long end = raw.Length;
        byte[] full = raw.PadTo(32).Bytes(new byte[48]).ToArray();
        using (GgufFile.Open(GgufTestFiles.WriteBytes(full))) { }

        long dimCountAt = second + 8 + name.Length, dimsAt = dimCountAt + 4, typeAt = dimsAt + 16, offsetAt = typeAt + 4;
        Assert.Equal(end, offsetAt + 8);
        GgufTestFiles.AssertRejected(Truncate(full, (int)second + 30), "truncated while reading tensor info 1 (name)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)dimCountAt + 2), "truncated while reading tensor info 1 (dimension count)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)dimsAt + 12), "truncated while reading tensor info 1 (dimensions)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)typeAt + 1), "truncated while reading tensor info 1 (type)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)offsetAt + 7), "truncated while reading tensor info 1 (offset)");
        GgufTestFiles.AssertRejected(Truncate(full, (int)end + 1), "truncated: the data section would start at byte 160 but the file is only");
    }

    [Fact]
    public void Truncated_data()
    {
        byte[] full = Build(0, null, [("a", F32, [4], 0), ("bb", F32, [2, 2], 32)], 48).ToArray();
        using (GgufFile.Open(GgufTestFiles.WriteBytes(full))) { }
        GgufTestFiles.AssertRejected(Truncate(full, full.Length - 1), "truncated: tensor bb data (16 bytes at data offset 32) runs past the end of the file");
    }

    [Fact]
    public void Truncation_anywhere_before_the_end_is_refused()
    {
        byte[] full = Build(2, r => { r.Key("general.name", TypeString).Str("x"); r.Key("v", TypeArray).ArrayHeader(TypeU32, 2).U32(1).U32(2); },
            [("a", F32, [4], 0), ("bb", F32, [2, 2], 32)], 48).ToArray();
        for (int length = 0; length < full.Length; length++)
        {
            string path = GgufTestFiles.WriteBytes(Truncate(full, length));
            var e = Assert.Throws<ModelFileException>(() => GgufFile.Open(path).Dispose());
            Assert.True(e.Message.Contains("truncated", StringComparison.Ordinal), e.Message);
        }
    }

    [Fact]
    public void Tensor_offset_past_the_end_of_the_file() =>
        GgufTestFiles.AssertRejected(OneTensor([4], offset: 1UL << 40), "tensor t starts at data offset 1099511627776, past the end");

    [Fact]
    public void A_file_without_tensors_needs_no_data_padding()
    {
        byte[] bytes = new RawGguf().Header(3, 0, 1).Key("k", TypeU32).U32(1).ToArray();
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(bytes));
        Assert.Equal(1, g.GetInteger("k"));
    }

    [Theory]
    [InlineData(1UL << 60)]
    [InlineData(ulong.MaxValue)]
    [InlineData(3UL)]
    public void Impossible_metadata_count(ulong count) =>
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, 0, count).Key("k", TypeU32).U32(1).ToArray(), $"metadata count {count} is impossible");

    [Theory]
    [InlineData(1UL << 60)]
    [InlineData(ulong.MaxValue)]
    [InlineData(2UL)]
    public void Impossible_tensor_count(ulong count) =>
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, count, 0).TensorInfo("t", F32, [1], 0).ToArray(), $"tensor count {count} is impossible");

    [Theory]
    [InlineData(1UL << 62)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1000UL)]
    public void String_longer_than_the_file(ulong length)
    {
        byte[] bytes = new RawGguf().Header(3, 0, 1).Key("k", TypeString).U64(length).Bytes(new byte[40]).ToArray();
        GgufTestFiles.AssertRejected(bytes, $"truncated while reading metadata entry 0 (value of k): string of {length} bytes but only 40 bytes left");
    }

    [Fact]
    public void Key_longer_than_the_file() =>
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, 0, 1).U64(1UL << 50).Bytes(new byte[20]).ToArray(),
            "truncated while reading metadata entry 0 (key): string of 1125899906842624 bytes");

    [Theory]
    [InlineData(TypeU32, 1UL << 61)]
    [InlineData(TypeString, 1UL << 40)]
    [InlineData(TypeArray, ulong.MaxValue)]
    [InlineData(0u, 100UL)]
    public void Array_longer_than_the_file(uint elementType, ulong count)
    {
        byte[] bytes = new RawGguf().Header(3, 0, 1).Key("a", TypeArray).ArrayHeader(elementType, count).Bytes(new byte[64]).ToArray();
        GgufTestFiles.AssertRejected(bytes, $"array of {count} ");
    }

    [Fact]
    public void A_tensor_with_no_dimensions_is_a_single_element()
    {
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(OneTensor([])));
        GgufTensorInfo t = g.GetTensor("t");
        Assert.Empty(t.Dims);
        Assert.Equal(1, t.ElementCount);
        Assert.Equal(4, t.ByteSize);
        Assert.Equal(1, t.Ne(0));
    }

    [Fact]
    public void Tensors_beyond_two_gigabytes_are_addressed_by_pointer_not_span()
    {
        // A sparse file: the header is real, the 2.4 GB of data are a hole that reads as zeros.
        const ulong elements = 600_000_000;
        byte[] header = Build(0, null, [("small", F32, [4], 0), ("huge", F32, [elements], 32)], 0).ToArray();
        string path = GgufTestFiles.NewPath("sparse");
        try
        {
            using (var file = new FileStream(path, FileMode.CreateNew))
            {
                file.Write(header);
                file.SetLength(header.Length + 32 + (long)elements * 4);
            }
            using var g = GgufFile.Open(path);
            GgufTensorInfo huge = g.GetTensor("huge");
            Assert.Equal(2_400_000_000L, huge.ByteSize);
            var e = Assert.Throws<ModelFileException>(() => g.GetTensorSpan(huge).Length);
            Assert.Contains("tensor huge has 2400000000 bytes, too many for one span", e.Message);
            unsafe
            {
                byte* last = g.GetTensorData(huge) + huge.ByteSize - 1;
                Assert.Equal(0, *last);
                Assert.Equal(g.FileSize, (long)(last + 1 - g.GetTensorData(g.GetTensor("small"))) + g.DataOffset);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Too_many_dimensions() =>
        GgufTestFiles.AssertRejected(OneTensor([1, 1, 1, 1, 4]), "tensor t has 5 dimensions (at most 4)");

    [Theory]
    [InlineData(0UL, "has invalid dimension ne[1] = 0")]
    [InlineData(ulong.MaxValue, "has invalid dimension ne[1] = -1")]
    [InlineData(1UL << 63, "has invalid dimension ne[1] = -9223372036854775808")]
    public void Invalid_dimension(ulong dim, string fragment) =>
        GgufTestFiles.AssertRejected(OneTensor([4, dim]), "tensor t " + fragment);

    [Fact]
    public void Element_count_overflow() =>
        GgufTestFiles.AssertRejected(OneTensor([1UL << 32, 1UL << 32]), "tensor t has too many elements");

    [Fact]
    public void Byte_size_overflow() =>
        GgufTestFiles.AssertRejected(OneTensor([1UL << 62]), "tensor t is too large");

    [Theory]
    [InlineData(33UL)]
    [InlineData(16UL)]
    public void Rows_that_are_not_whole_quant_blocks(ulong ne0) =>
        GgufTestFiles.AssertRejected(OneTensor([ne0, 2], Q8_0, dataBytes: 256), $"has ne[0] = {ne0}, not a whole number of q8_0 blocks of 32");

    [Theory]
    [InlineData(4u)]
    [InlineData(31u)]
    [InlineData(1000u)]
    public void Unknown_tensor_type(uint type) =>
        GgufTestFiles.AssertRejected(OneTensor([4], type), $"tensor t has unknown type {type}");

    [Fact]
    public void Duplicate_tensor_names() =>
        GgufTestFiles.AssertRejected(Build(0, null, [("w", F32, [4], 0), ("w", F32, [4], 32)], 64).ToArray(), "duplicate tensor name w");

    [Fact]
    public void Names_with_control_characters_are_escaped_and_long_names_shortened_in_messages()
    {
        var e = GgufTestFiles.AssertRejected(Build(0, null, [("bad\nname\0", 4, [4], 0)], 16).ToArray(), @"tensor bad\x0Aname\x00 has unknown type 4");
        Assert.DoesNotContain('\n', e.Message);
        string longKey = new('k', 5000);
        e = GgufTestFiles.AssertRejected(Build(2, r => { r.Key(longKey, TypeU32).U32(1); r.Key(longKey, TypeU32).U32(1); }, [], 0).ToArray(),
            "duplicate metadata key kkkk");
        Assert.True(e.Message.Length < 400, e.Message);
    }

    [Fact]
    public void Duplicate_metadata_keys() =>
        GgufTestFiles.AssertRejected(Build(2, r => { r.Key("k", TypeU32).U32(1); r.Key("k", TypeString).Str("x"); }, [], 0).ToArray(),
            "duplicate metadata key k");

    [Fact]
    public void Misaligned_tensor_offset() =>
        GgufTestFiles.AssertRejected(Build(0, null, [("a", F32, [4], 0), ("b", F32, [4], 16)], 64).ToArray(),
            "tensor b offset 16 is not a multiple of the alignment 32");

    [Fact]
    public void Overlapping_tensors() =>
        GgufTestFiles.AssertRejected(Build(0, null, [("late", F32, [4], 64), ("a", F32, [16], 0), ("b", F32, [4], 32)], 96).ToArray(),
            "tensors a and b overlap");

    [Fact]
    public void Tensors_may_be_stored_out_of_order_with_gaps()
    {
        byte[] bytes = Build(0, null, [("second", F32, [4], 64), ("first", F32, [4], 0)], 96).ToArray();
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(bytes));
        Assert.Equal(64, g.GetTensor("second").Offset);
    }

    [Theory]
    [InlineData(48u, "general.alignment = 48 is not a power of two")]
    [InlineData(0u, "general.alignment = 0 is not a power of two")]
    [InlineData(1u << 31, "general.alignment = 2147483648 is unreasonably large")]
    public void Bad_alignment_value(uint alignment, string fragment) =>
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", TypeU32).U32(alignment), [("t", F32, [4], 0)], 16).ToArray(), fragment);

    [Fact]
    public void Alignment_beyond_int64_is_too_large() =>
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", 10).U64(1UL << 63), [], 0).ToArray(),
            "general.alignment = 9223372036854775808 is unreasonably large");

    [Fact]
    public void Negative_alignment() =>
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", 5).U32(unchecked((uint)-32)), [], 0).ToArray(),
            "general.alignment = -32 is not a power of two");

    [Fact]
    public void Alignment_of_the_wrong_type()
    {
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", TypeString).Str("32"), [], 0).ToArray(),
            "general.alignment has type string, expected an integer");
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", 6).F32(32), [], 0).ToArray(),
            "general.alignment has type float32, expected an integer");
    }

    [Fact]
    public void Alignment_from_the_file_places_the_data()
    {
        byte[] bytes = Build(1, r => r.Key("general.alignment", 10).U64(128), [("a", F32, [4], 0), ("b", F32, [4], 128)], 144, alignment: 128).ToArray();
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(bytes));
        Assert.Equal(128, g.Alignment);
        Assert.Equal(128, g.DataOffset);
        GgufTestFiles.AssertRejected(Build(1, r => r.Key("general.alignment", 10).U64(128), [("a", F32, [4], 0), ("b", F32, [4], 32)], 144, alignment: 128).ToArray(),
            "tensor b offset 32 is not a multiple of the alignment 128");
    }

    private static byte[] NestedArrays(int depth)
    {
        var raw = new RawGguf().Header(3, 0, 1).Key("deep", TypeArray);
        for (int level = 1; level < depth; level++) raw.ArrayHeader(TypeArray, 1);
        raw.ArrayHeader(TypeU32, 1).U32(7);
        return raw.ToArray();
    }

    [Fact]
    public void Arrays_nested_eight_deep_are_read_and_nine_deep_refused()
    {
        using (var g = GgufFile.Open(GgufTestFiles.WriteBytes(NestedArrays(8))))
        {
            GgufArray a = g.GetArray("deep");
            for (int level = 1; level < 8; level++) a = a.Arrays[0].AsArray();
            Assert.Equal(7u, a.AsSpan<uint>()[0]);
        }
        GgufTestFiles.AssertRejected(NestedArrays(9), "nests arrays deeper than 8 levels");
        GgufTestFiles.AssertRejected(NestedArrays(100_000), "nests arrays deeper than 8 levels");
    }

    [Fact]
    public void Unknown_value_types()
    {
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, 0, 1).Key("k", 13).U64(0).ToArray(), "metadata key k has unknown value type 13");
        GgufTestFiles.AssertRejected(new RawGguf().Header(3, 0, 1).Key("k", TypeArray).ArrayHeader(0xFFFFFFFF, 0).ToArray(),
            "is an array of unknown value type 4294967295");
    }

    [Fact]
    public void Invalid_utf8_in_keys_and_strings_is_read_with_replacement_characters()
    {
        var raw = new RawGguf().Header(3, 0, 2);
        raw.StrBytes([0x6B, 0xFF]).U32(TypeString).StrBytes([0xC3, 0x28, 0x41]);
        raw.Key("list", TypeArray).ArrayHeader(TypeString, 1).StrBytes([0xE2, 0x82]);
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(raw.ToArray()));
        Assert.Equal("\uFFFD(A", g.GetString("k\uFFFD"));
        Assert.Equal("\uFFFD", g.GetStringArray("list")[0]);
    }

    [Fact]
    public void Bools_other_than_zero_or_one_read_as_true()
    {
        var raw = new RawGguf().Header(3, 0, 2);
        raw.Key("b", 7).U8(2);
        raw.Key("list", TypeArray).ArrayHeader(7, 3).U8(0).U8(0x80).U8(1);
        using var g = GgufFile.Open(GgufTestFiles.WriteBytes(raw.ToArray()));
        Assert.True(g.GetBool("b"));
        Assert.Equal(new[] { false, true, true }, g.GetArray("list").AsSpan<bool>().ToArray());
    }

    [Fact]
    public void Missing_file_and_directory()
    {
        string missing = GgufTestFiles.NewPath("missing");
        var e = Assert.Throws<ModelFileException>(() => GgufFile.Open(missing));
        Assert.StartsWith(missing + ": cannot open", e.Message);
        string dir = TestPaths.NewTempDir("gguf-dir");
        Assert.Contains("cannot open", Assert.Throws<ModelFileException>(() => GgufFile.Open(dir)).Message);
    }
}

using QwenSharp.Formats;
using QwenSharp.Tensors;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Formats;

/// <summary>Files written by GgufWriter read back by GgufFile with every value and every tensor byte intact.</summary>
public class GgufRoundTripTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(2u)]
    [InlineData(3u)]
    public void Every_scalar_type_round_trips_with_its_type(uint version)
    {
        var w = new GgufWriter(version);
        w.Add("u8", (byte)200);
        w.Add("i8", (sbyte)-100);
        w.Add("u16", (ushort)60000);
        w.Add("i16", (short)-30000);
        w.Add("u32", 4000000000u);
        w.Add("i32", -2000000000);
        w.Add("u64", ulong.MaxValue);
        w.Add("i64", long.MinValue);
        w.Add("f32", 3.25f);
        w.Add("f64", Math.PI);
        w.Add("t", true);
        w.Add("f", false);
        w.Add("s", "Qwen 千问 🐉 \u00e9\u0301");
        w.Add("empty", "");

        using var g = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Equal(version, g.Version);
        Assert.Equal(32, g.Alignment);
        Assert.Empty(g.Tensors);
        Assert.Equal(["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "t", "f", "s", "empty"],
            g.Metadata.Select(kv => kv.Key));

        Assert.Equal(GgufValueType.UInt8, g.Metadata["u8"].Type);
        Assert.Equal((byte)200, g.Metadata["u8"].Value);
        Assert.Equal((sbyte)-100, g.Metadata["i8"].Value);
        Assert.Equal((ushort)60000, g.Metadata["u16"].Value);
        Assert.Equal((short)-30000, g.Metadata["i16"].Value);
        Assert.Equal(4000000000u, g.Metadata["u32"].Value);
        Assert.Equal(-2000000000, g.Metadata["i32"].Value);
        Assert.Equal(ulong.MaxValue, g.Metadata["u64"].Value);
        Assert.Equal(long.MinValue, g.Metadata["i64"].Value);
        Assert.Equal(3.25f, g.Metadata["f32"].Value);
        Assert.Equal(Math.PI, g.Metadata["f64"].Value);
        Assert.Equal(GgufValueType.Bool, g.Metadata["t"].Type);
        Assert.True(g.GetBool("t"));
        Assert.False(g.GetBool("f"));
        Assert.Equal("Qwen 千问 🐉 \u00e9\u0301", g.GetString("s"));
        Assert.Equal("", g.GetString("empty"));

        Assert.Equal(200, g.GetInteger("u8"));
        Assert.Equal(-100, g.GetInteger("i8"));
        Assert.Equal(4000000000L, g.GetInteger("u32"));
        Assert.Equal(long.MinValue, g.GetInteger("i64"));
        Assert.Equal(3.25f, g.GetFloat("f32"));
        Assert.Equal((float)Math.PI, g.GetFloat("f64"));
        Assert.Equal(-2000000000f, g.GetFloat("i32"));
    }

    [Fact]
    public void Every_array_type_round_trips_including_nested_and_empty_arrays()
    {
        string[] words = ["hello", "", "Ġworld", "千问", "🐉", "a\0b"];
        var inner = GgufValue.From(GgufArray.Of(new[] { 1.5, -2.5 }));
        var innerStrings = GgufValue.From(GgufArray.Of(["x", "ÿ"]));
        var deep = GgufValue.From(GgufArray.Of([GgufValue.From(GgufArray.Of(new[] { true, false, true }))]));

        var w = new GgufWriter();
        w.AddArray("u8", new byte[] { 0, 255 });
        w.AddArray("i8", new sbyte[] { -128, 127 });
        w.AddArray("u16", new ushort[] { 1, 65535 });
        w.AddArray("i16", new short[] { -32768, 7 });
        w.AddArray("u32", new uint[] { uint.MaxValue, 3 });
        w.AddArray("i32", new[] { int.MinValue, 42 });
        w.AddArray("u64", new ulong[] { 9, 10 });
        w.AddArray("i64", new[] { long.MaxValue, -1L });
        w.AddArray("f32", new[] { 0.5f, float.NegativeInfinity });
        w.AddArray("f64", new[] { 1e300, -0.0 });
        w.AddArray("bool", new[] { true, false });
        w.AddArray("str", words);
        w.AddArray("nested", [inner, innerStrings, deep]);
        w.AddArray("none", Array.Empty<int>());

        using var g = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Equal(new byte[] { 0, 255 }, g.GetArray("u8").AsSpan<byte>().ToArray());
        Assert.Equal(new sbyte[] { -128, 127 }, g.GetArray("i8").AsSpan<sbyte>().ToArray());
        Assert.Equal(new ushort[] { 1, 65535 }, g.GetArray("u16").AsSpan<ushort>().ToArray());
        Assert.Equal(new short[] { -32768, 7 }, g.GetArray("i16").AsSpan<short>().ToArray());
        Assert.Equal(new uint[] { uint.MaxValue, 3 }, g.GetArray("u32").AsSpan<uint>().ToArray());
        Assert.Equal(new[] { int.MinValue, 42 }, g.GetArray("i32").AsSpan<int>().ToArray());
        Assert.Equal(new ulong[] { 9, 10 }, g.GetArray("u64").AsSpan<ulong>().ToArray());
        Assert.Equal(new[] { long.MaxValue, -1L }, g.GetArray("i64").AsSpan<long>().ToArray());
        Assert.Equal(new[] { 0.5f, float.NegativeInfinity }, g.GetArray("f32").AsSpan<float>().ToArray());
        Assert.Equal(new[] { 1e300, -0.0 }, g.GetArray("f64").AsSpan<double>().ToArray());
        Assert.True(double.IsNegative(g.GetArray("f64").AsSpan<double>()[1]));
        Assert.Equal(new[] { true, false }, g.GetArray("bool").AsSpan<bool>().ToArray());
        Assert.Equal(words, g.GetStringArray("str"));
        Assert.Equal(0, g.GetArray("none").Count);
        Assert.Equal(GgufValueType.Int32, g.GetArray("none").ElementType);

        Assert.Equal(new long[] { 0, 255 }, g.GetIntegerArray("u8"));
        Assert.Equal(new long[] { uint.MaxValue, 3 }, g.GetIntegerArray("u32"));
        Assert.Equal(new long[] { -32768, 7 }, g.GetIntegerArray("i16"));
        Assert.Equal(new[] { float.PositiveInfinity, -0f }, g.GetFloatArray("f64"));
        Assert.Equal(new[] { -128f, 127f }, g.GetFloatArray("i8"));

        GgufArray nested = g.GetArray("nested");
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        Assert.Equal(3, nested.Count);
        Assert.Equal(new[] { 1.5, -2.5 }, nested.Arrays[0].AsArray().ToDoubleArray());
        Assert.Equal(["x", "ÿ"], nested.Arrays[1].AsArray().ToStringArray());
        GgufArray deepRead = nested.Arrays[2].AsArray().Arrays[0].AsArray();
        Assert.Equal(new[] { true, false, true }, deepRead.AsSpan<bool>().ToArray());
        Assert.Equal(GgufValueType.Bool, nested[2].AsArray()[0].AsArray()[1].Type);
    }

    [Fact]
    public void A_tokenizer_sized_string_array_round_trips()
    {
        string[] tokens = Enumerable.Range(0, 151_936).Select(i => i % 7 == 0 ? $"Ġtok{i}" : $"词{i}").ToArray();
        string[] merges = Enumerable.Range(0, 151_387).Select(i => $"Ġt{i % 977} ok{i}").ToArray();
        int[] types = Enumerable.Range(0, tokens.Length).Select(i => i % 3).ToArray();
        var w = new GgufWriter();
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.AddArray("tokenizer.ggml.merges", merges);
        string path = GgufTestFiles.Write(w);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var g = GgufFile.Open(path);
        output.WriteLine($"opened a {new FileInfo(path).Length / 1024} KiB vocabulary-sized GGUF in {clock.Elapsed.TotalMilliseconds:F1} ms");
        Assert.Equal(merges, g.GetStringArray("tokenizer.ggml.merges"));
        Assert.Equal(tokens, g.GetStringArray("tokenizer.ggml.tokens"));
        Assert.Equal(types.Select(t => (long)t), g.GetIntegerArray("tokenizer.ggml.token_type"));
    }

    [Theory]
    [InlineData(2u, 32)]
    [InlineData(3u, 32)]
    [InlineData(3u, 1)]
    [InlineData(3u, 8)]
    [InlineData(2u, 4096)]
    public void Tensors_of_several_types_keep_names_shapes_offsets_and_bytes(uint version, int alignment)
    {
        var specs = new (string Name, GgmlType Type, long[] Dims, int Bytes)[]
        {
            ("token_embd.weight", GgmlType.Q4_K, [256, 3], 3 * 144),
            ("blk.0.attn_norm.weight", GgmlType.F32, [5], 20),
            ("blk.0.attn_q.weight", GgmlType.Q8_0, [64, 3], 3 * 2 * 34),
            ("blk.0.attn_q.bias", GgmlType.F16, [7], 14),
            ("blk.0.ffn_gate_exps.weight", GgmlType.F32, [2, 3, 4, 1], 96),
        };
        var w = new GgufWriter(version, alignment);
        w.Add("general.name", "tiny");
        var data = new byte[specs.Length][];
        for (int i = 0; i < specs.Length; i++)
        {
            data[i] = GgufTestFiles.Pattern(specs[i].Bytes, 100 + i);
            w.AddTensor(specs[i].Name, specs[i].Type, specs[i].Dims, data[i]);
        }
        string path = GgufTestFiles.Write(w);

        using var g = GgufFile.Open(path);
        Assert.Equal(version, g.Version);
        Assert.Equal(alignment, g.Alignment);
        Assert.Equal(new FileInfo(path).Length, g.FileSize);
        Assert.Equal(0, g.DataOffset % alignment);
        Assert.Equal(alignment != 32, g.Metadata.ContainsKey("general.alignment"));
        Assert.Equal(specs.Length, g.Tensors.Count);

        long expectedOffset = 0;
        byte[] file = File.ReadAllBytes(path);
        for (int i = 0; i < specs.Length; i++)
        {
            GgufTensorInfo t = g.Tensors[i];
            Assert.Same(t, g.GetTensor(specs[i].Name));
            Assert.Equal(i, t.Index);
            Assert.Equal(specs[i].Type, t.Type);
            Assert.Equal(specs[i].Dims, t.Dims);
            Assert.Equal(specs[i].Dims.Aggregate(1L, (a, b) => a * b), t.ElementCount);
            Assert.Equal(specs[i].Bytes, t.ByteSize);
            Assert.Equal(expectedOffset, t.Offset);
            Assert.Equal(0, t.Offset % alignment);
            expectedOffset = (t.Offset + t.ByteSize + alignment - 1) / alignment * alignment;

            Assert.Equal(data[i], g.GetTensorSpan(t).ToArray());
            // The span must be the file's bytes at DataOffset + Offset, read independently of the mapping.
            Assert.Equal(data[i], file.AsSpan((int)(g.DataOffset + t.Offset), specs[i].Bytes).ToArray());
            unsafe { Assert.Equal(data[i][0], *g.GetTensorData(t)); }
        }
        Assert.Null(g.FindTensor("output.weight"));
        var missing = Assert.Throws<ModelFileException>(() => g.GetTensor("output.weight"));
        Assert.Contains("missing tensor output.weight", missing.Message);
    }

    [Fact]
    public void Streamed_tensor_data_is_written_in_place()
    {
        byte[] big = GgufTestFiles.Pattern(34 * 1000, 9);
        var w = new GgufWriter();
        w.AddTensor("small", GgmlType.F32, [1], new byte[] { 1, 2, 3, 4 });
        w.AddTensor("big", GgmlType.Q8_0, [32000], big.Length, stream =>
        {
            for (int i = 0; i < big.Length; i += 1000) stream.Write(big, i, 1000);
        });
        using var g = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Equal(big, g.GetTensorSpan(g.GetTensor("big")).ToArray());
        Assert.Equal(32, g.GetTensor("big").Offset);
    }

    [Fact]
    public void Writing_over_an_existing_file_replaces_it_and_leaves_no_partial_file()
    {
        string path = GgufTestFiles.NewPath();
        File.WriteAllText(path, "old");
        var w = new GgufWriter();
        w.Add("k", 1);
        w.Write(path);
        using var g = GgufFile.Open(path);
        Assert.Equal(1, g.GetInteger("k"));
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public void Tensor_data_is_not_reachable_after_dispose()
    {
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F32, [1], new byte[4]);
        var g = GgufFile.Open(GgufTestFiles.Write(w));
        GgufTensorInfo t = g.GetTensor("t");
        g.Dispose();
        g.Dispose();
        Assert.Throws<ObjectDisposedException>(() => g.GetTensorSpan(t).Length);
    }

    [Fact]
    public void A_tensor_info_from_another_file_is_refused()
    {
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F32, [1], new byte[4]);
        using var a = GgufFile.Open(GgufTestFiles.Write(w));
        using var b = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Throws<ArgumentException>(() => a.GetTensorSpan(b.GetTensor("t")).Length);
    }
}

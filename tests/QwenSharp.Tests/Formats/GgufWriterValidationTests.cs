using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Formats;

/// <summary>The writer refuses anything that would make a file the reader rejects.</summary>
public class GgufWriterValidationTests
{
    private static void Refused(Action action, string fragment)
    {
        var e = Assert.ThrowsAny<QwenSharpException>(action);
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"expected \"{fragment}\" in: {e.Message}");
    }

    [Theory]
    [InlineData(1u, 32, "cannot write GGUF version 1")]
    [InlineData(4u, 32, "cannot write GGUF version 4")]
    [InlineData(3u, 0, "alignment 0 is not a power of two")]
    [InlineData(3u, 48, "alignment 48 is not a power of two")]
    [InlineData(3u, -32, "alignment -32 is not a power of two")]
    public void Bad_version_or_alignment(uint version, int alignment, string fragment) =>
        Refused(() => _ = new GgufWriter(version, alignment), fragment);

    [Fact]
    public void Duplicate_metadata_key()
    {
        var w = new GgufWriter();
        w.Add("k", 1);
        Refused(() => w.Add("k", "again"), "duplicate metadata key k");
    }

    [Fact]
    public void General_alignment_must_agree_with_the_writer_and_is_then_written_once()
    {
        var w = new GgufWriter(alignment: 64);
        Refused(() => w.Add("general.alignment", 32u), "differs from the writer's alignment 64");
        Refused(() => w.Add("general.alignment", "64"), "differs from the writer's alignment 64");
        w.Add("general.alignment", 64u);
        w.AddTensor("t", GgmlType.F32, [1], new byte[4]);
        using var g = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Single(g.Metadata);
        Assert.Equal(64, g.Alignment);
    }

    [Theory]
    [InlineData(4u, new long[] { 4 }, 16, "tensor t has unknown type 4")]
    [InlineData(0u, new long[] { 1, 1, 1, 1, 1 }, 4, "tensor t has 5 dimensions")]
    [InlineData(0u, new long[] { 4, 0 }, 0, "tensor t has invalid dimension ne[1] = 0")]
    [InlineData(0u, new long[] { -4 }, 16, "tensor t has invalid dimension ne[0] = -4")]
    [InlineData(8u, new long[] { 48 }, 51, "tensor t has ne[0] = 48, not a whole number of q8_0 blocks of 32")]
    [InlineData(0u, new long[] { 4 }, 15, "tensor t (f32 [4]) needs 16 bytes, got 15")]
    [InlineData(12u, new long[] { 256, 2 }, 144, "tensor t (q4_K [256, 2]) needs 288 bytes, got 144")]
    public void Bad_tensors(uint type, long[] dims, int bytes, string fragment) =>
        Refused(() => new GgufWriter().AddTensor("t", (GgmlType)type, dims, new byte[bytes]), fragment);

    [Fact]
    public void Duplicate_tensor_name()
    {
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F32, [1], new byte[4]);
        Refused(() => w.AddTensor("t", GgmlType.F32, [1], new byte[4]), "duplicate tensor name t");
    }

    [Theory]
    [InlineData(63)]
    [InlineData(65)]
    public void A_streamed_tensor_that_writes_the_wrong_amount_fails_and_leaves_no_file(int written)
    {
        var w = new GgufWriter();
        w.AddTensor("t", GgmlType.F32, [16], 64, s => s.Write(new byte[written]));
        string path = GgufTestFiles.NewPath();
        Refused(() => w.Write(path), $"tensor t wrote {written} bytes, expected 64");
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public void Arrays_refuse_null_strings_and_non_array_items()
    {
        Refused(() => GgufArray.Of(["a", null!]), "cannot hold null");
        Refused(() => GgufArray.Of([GgufValue.From(1)]), "every item of a nested GGUF array must be an array value");
    }

    [Fact]
    public void The_writers_input_arrays_are_copied()
    {
        int[] values = [1, 2, 3];
        var w = new GgufWriter();
        w.AddArray("v", values);
        long[] dims = [4];
        w.AddTensor("t", GgmlType.F32, dims, new byte[16]);
        values[0] = 99;
        dims[0] = 8;
        using var g = GgufFile.Open(GgufTestFiles.Write(w));
        Assert.Equal(new long[] { 1, 2, 3 }, g.GetIntegerArray("v"));
        Assert.Equal(new long[] { 4 }, g.GetTensor("t").Dims);
    }

    [Fact]
    public void An_unwritable_path_is_a_QwenSharpException()
    {
        string path = Path.Combine(GgufTestFiles.NewPath("no-such-dir"), "model.gguf");
        Refused(() => new GgufWriter().Write(path), "cannot write");
    }
}

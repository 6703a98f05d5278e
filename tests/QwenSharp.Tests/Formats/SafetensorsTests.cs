using System.Buffers.Binary;
using System.Text;
using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>The safetensors reader against files our writer makes, and against hand-made broken files: each broken
/// case must end in a ModelFileException that names the file and the cause.</summary>
public class SafetensorsTests
{
    internal static byte[] Bytes(int count, int seed) => Enumerable.Range(0, count).Select(i => (byte)(i * 31 + seed)).ToArray();

    internal static SafetensorsWriter SmallWriter()
    {
        var w = new SafetensorsWriter();
        w.AddMetadata("format", "pt");
        w.Add("a.weight", "BF16", [3, 4], Bytes(24, 1));
        w.Add("b.bias", "F32", [5], Bytes(20, 2));
        w.Add("c", "F16", [2, 1, 2], Bytes(8, 3));
        return w;
    }

    private static string WriteRaw(byte[] bytes)
    {
        string path = Path.Combine(TestPaths.NewTempDir("st"), "x.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] RawFile(string json, int dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public void WrittenFileReadsBackWithShapesOffsetsAndBytes()
    {
        string path = Path.Combine(TestPaths.NewTempDir("st"), "m.safetensors");
        SmallWriter().Write(path);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(["a.weight", "b.bias", "c"], f.Tensors.Select(t => t.Name));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(0, f.DataOffset % 8);
        var a = f.Find("a.weight")!;
        Assert.Equal([3L, 4L], a.Shape);
        Assert.Equal(Bytes(24, 1), f.GetSpan(a).ToArray());
        Assert.Equal(Bytes(20, 2), f.GetSpan(f.Find("b.bias")!).ToArray());
        Assert.Equal(Bytes(8, 3), f.GetSpan(f.Find("c")!).ToArray());
        Assert.Equal(8 + f.DataOffset - 8 + 52, f.FileSize);
    }

    [Fact]
    public void HeaderFollowsTheSafetensorsLayout()
    {
        // Independent check of the format: length prefix, JSON with data_offsets counted from the data section.
        byte[] bytes;
        using (var ms = new MemoryStream()) { SmallWriter().Write(ms); bytes = ms.ToArray(); }
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string json = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.Contains("\"b.bias\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[24,44]}", json);
        Assert.Equal(Bytes(20, 2), bytes.AsSpan((int)(8 + n + 24), 20).ToArray());
    }

    [Theory]
    [InlineData("fewer than the 8-byte")]
    public void TooShortFileIsRejected(string expected)
    {
        string path = WriteRaw([1, 2, 3]);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void HeaderLengthPastEndOfFileIsRejected()
    {
        var bytes = RawFile("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(WriteRaw(bytes)));
        Assert.Contains("runs past the end of the file", e.Message);
    }

    [Fact]
    public void HugeHeaderIsRejectedBeforeAnythingIsRead()
    {
        var bytes = RawFile("{}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 200_000_000);
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(WriteRaw(bytes)));
        Assert.Contains("limit", e.Message);
    }

    [Theory]
    [InlineData("{\"a\": ", 0, "not valid JSON")]
    [InlineData("[1, 2]", 0, "not an object")]
    [InlineData("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "unknown dtype 'Q4'")]
    [InlineData("{\"a\":{\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "no \"dtype\"")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "no \"shape\"")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "expected 2")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "run past the end of the data")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12")]
    [InlineData("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 16, null)]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "too many elements")]
    [InlineData("{\"__metadata__\":{\"format\":3}}", 0, "not a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "twice")]
    public void BrokenHeadersAreRejectedWithTheCause(string json, int dataBytes, string? expected)
    {
        string path = WriteRaw(RawFile(json, dataBytes));
        if (expected is null)
        {
            using var ok = SafetensorsFile.Open(path);
            Assert.Single(ok.Tensors);
            return;
        }
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void WriterRefusesBytesThatDoNotMatchTheShape()
    {
        var w = new SafetensorsWriter();
        Assert.Throws<QwenSharpException>(() => w.Add("x", "F32", [3], new byte[8]));
        Assert.Throws<QwenSharpException>(() => w.Add("x", "NOPE", [3], new byte[8]));
    }
}

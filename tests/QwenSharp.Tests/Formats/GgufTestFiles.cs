using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>Scratch GGUF files for the format tests.</summary>
internal static class GgufTestFiles
{
    private static readonly Lazy<string> Dir = new(() => TestPaths.NewTempDir("gguf"));

    public static string NewPath(string name = "test") => Path.Combine(Dir.Value, $"{name}-{Guid.NewGuid():N}.gguf");

    public static string WriteBytes(byte[] bytes)
    {
        string path = NewPath("raw");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static string Write(GgufWriter writer)
    {
        string path = NewPath("written");
        writer.Write(path);
        return path;
    }

    /// <summary>Opening the bytes must fail with a ModelFileException whose message names the file and contains
    /// <paramref name="fragment"/>.</summary>
    public static ModelFileException AssertRejected(byte[] bytes, string fragment)
    {
        string path = WriteBytes(bytes);
        var e = Assert.Throws<ModelFileException>(() => { using var _ = GgufFile.Open(path); });
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"expected \"{fragment}\" in: {e.Message}");
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    /// <summary>Bytes with deterministic, position-dependent content, so misplaced data is noticed.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

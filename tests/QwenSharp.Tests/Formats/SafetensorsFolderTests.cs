using System.Text.Json;
using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>Folders of one model.safetensors or of shards with model.safetensors.index.json.</summary>
public class SafetensorsFolderTests
{
    private static string ShardedFolder(Action<Dictionary<string, string>>? editMap = null)
    {
        string dir = TestPaths.NewTempDir("st-folder");
        var w1 = new SafetensorsWriter();
        w1.Add("x", "F32", [2], SafetensorsTests.Bytes(8, 1));
        w1.Add("y", "BF16", [2, 2], SafetensorsTests.Bytes(8, 2));
        w1.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"));
        var w2 = new SafetensorsWriter();
        w2.Add("z", "F16", [3], SafetensorsTests.Bytes(6, 3));
        w2.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        var map = new Dictionary<string, string>
        {
            ["x"] = "model-00001-of-00002.safetensors",
            ["y"] = "model-00001-of-00002.safetensors",
            ["z"] = "model-00002-of-00002.safetensors",
        };
        editMap?.Invoke(map);
        File.WriteAllText(Path.Combine(dir, SafetensorsFolder.IndexFileName),
            JsonSerializer.Serialize(new { metadata = new { total_size = 22 }, weight_map = map }));
        return dir;
    }

    [Fact]
    public void ShardsNamedByTheIndexAreAllFound()
    {
        using var folder = SafetensorsFolder.Open(ShardedFolder());
        Assert.Equal(2, folder.Shards.Count);
        Assert.Equal(3, folder.Tensors.Count());
        var (z, shard) = folder.Find("z")!.Value;
        Assert.EndsWith("00002-of-00002.safetensors", shard.FilePath);
        Assert.Equal(SafetensorsTests.Bytes(6, 3), shard.GetSpan(z).ToArray());
    }

    [Fact]
    public void SingleFileFolderIsRead()
    {
        string dir = TestPaths.NewTempDir("st-folder");
        SafetensorsTests.SmallWriter().Write(Path.Combine(dir, SafetensorsFolder.SingleFileName));
        using var folder = SafetensorsFolder.Open(dir);
        Assert.NotNull(folder.Find("b.bias"));
    }

    [Fact]
    public void MissingShardIsNamed()
    {
        string dir = ShardedFolder(m => m["z"] = "model-00003-of-00003.safetensors");
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFolder.Open(dir));
        Assert.Contains("model-00003-of-00003.safetensors", e.Message);
        Assert.Contains("is not in the folder", e.Message);
    }

    [Fact]
    public void TensorInAShardButNotInTheIndexIsRefused()
    {
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFolder.Open(ShardedFolder(m => m.Remove("y"))));
        Assert.Contains("tensor y is in this shard but not in", e.Message);
    }

    [Fact]
    public void TensorInTheIndexButNotInItsShardIsRefused()
    {
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFolder.Open(ShardedFolder(m => m["w"] = "model-00001-of-00002.safetensors")));
        Assert.Contains("tensor w", e.Message);
        Assert.Contains("is missing", e.Message);
    }

    [Fact]
    public void ShardPathsOutsideTheFolderAreRefused()
    {
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFolder.Open(ShardedFolder(m => m["z"] = "../evil.safetensors")));
        Assert.Contains("not a shard file name", e.Message);
    }

    [Fact]
    public void EmptyFolderSaysWhatIsMissing()
    {
        var e = Assert.Throws<ModelFileException>(() => SafetensorsFolder.Open(TestPaths.NewTempDir("st-empty")));
        Assert.Contains("no model.safetensors", e.Message);
    }
}

using System.Text.Json;

namespace QwenSharp.Formats;

/// <summary>The weights of a HuggingFace model folder: one model.safetensors, or the shards that
/// model.safetensors.index.json names (its weight_map: tensor name -> shard file). Every shard is memory-mapped;
/// the index and the shards must agree exactly (no tensor missing, none extra, none in two shards).</summary>
public sealed class SafetensorsFolder : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _shards;
    private readonly Dictionary<string, (SafetensorsTensorInfo Info, SafetensorsFile Shard)> _byName;

    public string DirectoryPath { get; }

    public IReadOnlyList<SafetensorsFile> Shards => _shards;

    /// <summary>Every tensor with the shard holding it, shard by shard in header order.</summary>
    public IEnumerable<(SafetensorsTensorInfo Info, SafetensorsFile Shard)> Tensors =>
        _shards.SelectMany(s => s.Tensors.Select(t => (t, s)));

    public long TotalBytes => _shards.Sum(s => s.FileSize);

    private SafetensorsFolder(string dir, List<SafetensorsFile> shards, Dictionary<string, (SafetensorsTensorInfo, SafetensorsFile)> byName)
    {
        DirectoryPath = dir;
        _shards = shards;
        _byName = byName;
    }

    public (SafetensorsTensorInfo Info, SafetensorsFile Shard)? Find(string name) =>
        _byName.TryGetValue(name, out var entry) ? entry : null;

    public static bool LooksLikeModelFolder(string dir) =>
        File.Exists(Path.Combine(dir, SingleFileName)) || File.Exists(Path.Combine(dir, IndexFileName));

    public static SafetensorsFolder Open(string dir)
    {
        string indexPath = Path.Combine(dir, IndexFileName);
        string singlePath = Path.Combine(dir, SingleFileName);
        var shards = new List<SafetensorsFile>();
        try
        {
            var byName = new Dictionary<string, (SafetensorsTensorInfo, SafetensorsFile)>(StringComparer.Ordinal);
            if (File.Exists(indexPath))
            {
                var weightMap = ReadIndex(indexPath);
                foreach (string shardName in weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
                {
                    string shardPath = Path.Combine(dir, shardName);
                    if (!File.Exists(shardPath))
                        throw new ModelFileException(indexPath, $"shard {shardName}, named by the index, is not in the folder");
                    shards.Add(SafetensorsFile.Open(shardPath));
                }
                foreach (var shard in shards)
                    foreach (var t in shard.Tensors)
                    {
                        string shardName = Path.GetFileName(shard.FilePath);
                        if (!weightMap.TryGetValue(t.Name, out string? listed))
                            throw new ModelFileException(shard.FilePath, $"tensor {t.Name} is in this shard but not in {IndexFileName}");
                        if (listed != shardName)
                            throw new ModelFileException(shard.FilePath, $"tensor {t.Name} is in this shard but {IndexFileName} puts it in {listed}");
                        byName[t.Name] = (t, shard);
                    }
                foreach (var (name, shardName) in weightMap)
                    if (!byName.ContainsKey(name))
                        throw new ModelFileException(Path.Combine(dir, shardName), $"tensor {name}, which {IndexFileName} puts here, is missing");
            }
            else if (File.Exists(singlePath))
            {
                var file = SafetensorsFile.Open(singlePath);
                shards.Add(file);
                foreach (var t in file.Tensors) byName[t.Name] = (t, file);
            }
            else
            {
                throw new ModelFileException(dir, $"no {SingleFileName} or {IndexFileName} in the folder");
            }
            return new SafetensorsFolder(dir, shards, byName);
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadIndex(string indexPath)
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ModelFileException(indexPath, "not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
                throw new ModelFileException(indexPath, "no \"weight_map\" object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                string? shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString() : null;
                if (string.IsNullOrEmpty(shard) || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new ModelFileException(indexPath, $"weight_map[\"{entry.Name}\"] is not a shard file name in this folder");
                if (!result.TryAdd(entry.Name, shard))
                    throw new ModelFileException(indexPath, $"weight_map names tensor {entry.Name} twice");
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(indexPath, "not valid JSON: " + e.Message, e);
        }
        catch (IOException e)
        {
            throw new ModelFileException(indexPath, "cannot read: " + e.Message, e);
        }
    }

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
    }
}

using System.Collections.Concurrent;
using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Server;

/// <summary>Quantization and parameter count of a model in the folder, read from its header only (GGUF header or
/// config.json), so /api/tags can fill Ollama's details without loading any weights. Cached per file version.</summary>
internal static class ModelFileFacts
{
    public sealed record Facts(string Quantization, long? ParameterCount);

    private static readonly ConcurrentDictionary<(string Path, long Size, DateTime Modified), Facts> Cache = new();

    public static Facts Of(ModelEntry e) => Cache.GetOrAdd((e.Path, e.Size, e.ModifiedUtc), _ => Read(e.Path));

    private static Facts Read(string path)
    {
        try
        {
            return Directory.Exists(path) ? FromFolder(path) : FromGguf(path);
        }
        catch (Exception ex) when (ex is QwenSharpException or IOException or UnauthorizedAccessException or JsonException)
        {
            // A broken file still lists (loading it reports the problem); its details stay unknown.
            return new Facts("unknown", null);
        }
    }

    private static Facts FromGguf(string path)
    {
        using var file = GgufFile.Open(path);
        long count = 0;
        foreach (var t in file.Tensors) count += t.ElementCount;
        return new Facts(GgufFileTypeNames.Of(file), count);
    }

    private static Facts FromFolder(string dir)
    {
        string configPath = Path.Combine(dir, "config.json");
        var hf = HuggingFaceConfig.Read(configPath);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        string dtype = doc.RootElement.TryGetProperty("torch_dtype", out var d) && d.ValueKind == JsonValueKind.String
            ? d.GetString()! : "unknown";
        string quant = dtype switch { "bfloat16" => "BF16", "float16" => "F16", "float32" => "F32", _ => dtype.ToUpperInvariant() };
        return new Facts(quant, hf.Config.ParameterCount(hf.TieWordEmbeddings));
    }
}

using System.Text.Json;

namespace QwenSharp.Formats;

/// <summary>Parses and checks a safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON
/// mapping each tensor name to {dtype, shape, data_offsets} (plus an optional "__metadata__" string map); the data
/// section follows. Every problem becomes one <see cref="ModelFileException"/> naming the file and the cause.</summary>
public static class SafetensorsHeader
{
    /// <summary>The safetensors library's own cap; real headers are a few hundred KB.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public sealed record Parsed(IReadOnlyList<SafetensorsTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataOffset);

    /// <summary>Checks the 8-byte length prefix against the file size; returns N.</summary>
    public static long CheckLength(string path, ulong declared, long fileLength)
    {
        if (declared > MaxHeaderBytes)
            throw new ModelFileException(path, $"safetensors header length {declared} is larger than the {MaxHeaderBytes}-byte limit: not a safetensors file, or corrupt");
        if (8 + (long)declared > fileLength)
            throw new ModelFileException(path, $"safetensors header length {declared} runs past the end of the file ({fileLength} bytes)");
        if (declared < 2)
            throw new ModelFileException(path, $"safetensors header length {declared} is too short for a JSON object");
        return (long)declared;
    }

    /// <summary>Interprets the JSON header of a file of <paramref name="fileLength"/> bytes whose header is
    /// <paramref name="json"/> (so the data section starts at 8 + json.Length).</summary>
    public static Parsed Parse(string path, ReadOnlySpan<byte> json, long fileLength)
    {
        long dataOffset = 8 + json.Length;
        long dataLength = fileLength - dataOffset;
        if (dataLength < 0) throw new ModelFileException(path, "the header runs past the end of the file");
        // JsonDocument checks UTF-8 only when a string is read, and then throws InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new ModelFileException(path, "the safetensors header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, "the safetensors header is not valid JSON: " + e.Message);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFileException(path, $"the safetensors header is a JSON {root.ValueKind}, not an object");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in root.EnumerateObject())
            {
                if (!names.Add(entry.Name))
                    throw new ModelFileException(path, $"the safetensors header names '{entry.Name}' twice");
                if (entry.Name == MetadataKey) ReadMetadata(path, entry.Value, metadata);
                else tensors.Add(ReadTensor(path, entry.Name, entry.Value, dataLength));
            }
            CheckNoOverlap(path, tensors);
            return new Parsed(tensors, metadata, dataOffset);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(path, $"{MetadataKey} is a JSON {value.ValueKind}, not an object of strings");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new ModelFileException(path, $"{MetadataKey}[\"{item.Name}\"] is a JSON {item.Value.ValueKind}, not a string");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string path, string name, JsonElement value, long dataLength)
    {
        string Problem(string what) => $"tensor {name}: {what}";
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(path, Problem($"entry is a JSON {value.ValueKind}, not an object"));
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new ModelFileException(path, Problem("no \"dtype\" string"));
        string dtype = dtypeElement.GetString()!;
        if (!SafetensorsDType.IsKnown(dtype))
            throw new ModelFileException(path, Problem($"unknown dtype '{dtype}'"));
        long[] shape = ReadIntegers(path, name, value, "shape", -1);
        long[] offsets = ReadIntegers(path, name, value, "data_offsets", 2);
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new ModelFileException(path, Problem($"data_offsets [{begin}, {end}] end before they begin"));
        if (end > dataLength)
            throw new ModelFileException(path, Problem($"data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes)"));
        long elements = 1;
        foreach (long d in shape)
        {
            if (d != 0 && elements > long.MaxValue / 8 / d)
                throw new ModelFileException(path, Problem($"shape [{string.Join(", ", shape)}] has too many elements"));
            elements *= d;
        }
        long bytes = elements * SafetensorsDType.Size(dtype);
        if (end - begin != bytes)
            throw new ModelFileException(path,
                Problem($"data_offsets [{begin}, {end}] hold {end - begin} bytes but {dtype} [{string.Join(", ", shape)}] needs {bytes}"));
        return new SafetensorsTensorInfo(name, dtype, shape, begin, bytes);
    }

    private static long[] ReadIntegers(string path, string name, JsonElement value, string property, int requiredCount)
    {
        if (!value.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new ModelFileException(path, $"tensor {name}: no \"{property}\" array");
        int count = array.GetArrayLength();
        if (requiredCount >= 0 && count != requiredCount)
            throw new ModelFileException(path, $"tensor {name}: \"{property}\" has {count} entries, expected {requiredCount}");
        if (count > 16) throw new ModelFileException(path, $"tensor {name}: \"{property}\" has {count} entries, too many");
        var result = new long[count];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw new ModelFileException(path, $"tensor {name}: \"{property}\"[{i}] is not a non-negative integer");
            result[i++] = v;
        }
        return result;
    }

    private static void CheckNoOverlap(string path, List<SafetensorsTensorInfo> tensors)
    {
        var byOffset = tensors.Where(t => t.ByteSize > 0).OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < byOffset.Count; i++)
        {
            var previous = byOffset[i - 1];
            if (byOffset[i].Offset < previous.Offset + previous.ByteSize)
                throw new ModelFileException(path, $"tensors {previous.Name} and {byOffset[i].Name} overlap in the data section");
        }
    }
}

using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>The real Qwen vocabulary (../shared/qwen-tokenizer/tokenizer.json) as GGUF tokenizer arrays, for
/// synthetic models with real vocabulary shapes. Read from the shared folder, never copied into the repo.</summary>
internal static class RealVocabulary
{
    private static readonly Lazy<SyntheticVocabulary> Cached = new(Load);

    public static SyntheticVocabulary Get() => Cached.Value;

    private static SyntheticVocabulary Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.SharedTokenizerJson));
        var model = doc.RootElement.GetProperty("model");
        var byId = new SortedDictionary<int, (string Text, int Type)>();
        foreach (var entry in model.GetProperty("vocab").EnumerateObject()) byId[entry.Value.GetInt32()] = (entry.Name, 1);
        foreach (var added in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
            byId[added.GetProperty("id").GetInt32()] = (added.GetProperty("content").GetString()!, added.GetProperty("special").GetBoolean() ? 3 : 4);
        if (byId.Keys.Last() != byId.Count - 1) throw new InvalidDataException("token ids are not dense");
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString()).ToArray();
        int endOfText = byId.First(kv => kv.Value.Text == "<|endoftext|>").Key;
        int imEnd = byId.First(kv => kv.Value.Text == "<|im_end|>").Key;
        return new SyntheticVocabulary(byId.Values.Select(v => v.Text).ToArray(), byId.Values.Select(v => v.Type).ToArray(),
            merges, Bos: endOfText, Eos: imEnd, Pad: endOfText);
    }
}

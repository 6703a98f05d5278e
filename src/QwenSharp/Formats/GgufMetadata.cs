using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace QwenSharp.Formats;

/// <summary>Read-only metadata that looks keys up by name and enumerates in the order the file stores them
/// (so `qwen show` lists keys the way llama.cpp does).</summary>
public sealed class GgufMetadata : IReadOnlyDictionary<string, GgufValue>, IReadOnlyList<KeyValuePair<string, GgufValue>>
{
    private readonly List<KeyValuePair<string, GgufValue>> _ordered;
    private readonly Dictionary<string, GgufValue> _byKey;

    /// <summary>Both collections are owned by this object from now on; they must hold the same entries.</summary>
    internal GgufMetadata(List<KeyValuePair<string, GgufValue>> ordered, Dictionary<string, GgufValue> byKey)
    {
        _ordered = ordered;
        _byKey = byKey;
    }

    public int Count => _ordered.Count;

    public GgufValue this[string key] => _byKey.TryGetValue(key, out GgufValue? v) ? v
        : throw new KeyNotFoundException($"missing metadata key {key}");

    public KeyValuePair<string, GgufValue> this[int index] => _ordered[index];

    public IEnumerable<string> Keys => _ordered.Select(kv => kv.Key);

    public IEnumerable<GgufValue> Values => _ordered.Select(kv => kv.Value);

    public bool ContainsKey(string key) => _byKey.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out GgufValue value) => _byKey.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => _ordered.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

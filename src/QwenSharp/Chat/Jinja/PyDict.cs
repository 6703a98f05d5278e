namespace QwenSharp.Chat.Jinja;

/// <summary>A Python dict: keeps insertion order, and keys compare as Python's do (1, 1.0 and True are one key).</summary>
internal sealed class PyDict
{
    private readonly OrderedDictionary<object, object?> _items = new(PyKeyComparer.Instance);

    public int Count => _items.Count;
    public IEnumerable<object> Keys => _items.Keys;
    public IEnumerable<object?> Values => _items.Values;
    public IEnumerable<KeyValuePair<object, object?>> Items => _items;

    /// <summary>None is a valid dict key in Python; it is stored as this sentinel.</summary>
    private static readonly object NoneKey = new();

    public void Set(object? key, object? value)
    {
        Key(key);
        _items[key ?? NoneKey] = value;
    }

    public bool TryGet(object? key, out object? value)
    {
        if (key is not (null or string or bool or long or double or PyTuple))
        {
            value = null;
            return false;
        }
        return _items.TryGetValue(key ?? NoneKey, out value);
    }

    public bool ContainsKey(object? key) => TryGet(key, out _);

    public static object? ExternalKey(object key) => ReferenceEquals(key, NoneKey) ? null : key;

    private static void Key(object? key)
    {
        if (key is not (null or string or bool or long or double or PyTuple))
            throw new TemplateError($"unhashable type: '{PyStr.TypeName(key)}'");
    }

    private sealed class PyKeyComparer : IEqualityComparer<object>
    {
        public static readonly PyKeyComparer Instance = new();

        public new bool Equals(object? x, object? y) => PyOps.Equal(x, y);

        public int GetHashCode(object obj) => obj switch
        {
            bool b => b ? 1 : 0,
            long l => l.GetHashCode(),
            double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
            string s => StringComparer.Ordinal.GetHashCode(s),
            PyTuple t => t.Items.Count,
            _ => 0,
        };
    }
}

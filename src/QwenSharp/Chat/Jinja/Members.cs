namespace QwenSharp.Chat.Jinja;

/// <summary>Attribute access (a.b), item access (a[b]) and slicing (a[x:y:z]) the way Jinja's sandboxed
/// environment resolves them: a.b tries the value's attribute or method first and then its item, a[b] the
/// item first and then the attribute; anything missing is Undefined (an error only once it is used).
/// Methods that would change a list or dict are refused, as in HuggingFace's ImmutableSandboxedEnvironment.</summary>
internal static class Members
{
    private static readonly HashSet<string> UnsafeListMethods = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "__setitem__", "__delitem__"];
    private static readonly HashSet<string> UnsafeDictMethods = ["update", "pop", "popitem", "setdefault", "clear", "__setitem__", "__delitem__"];

    public static object? GetAttr(object? target, string name)
    {
        switch (target)
        {
            case Undefined u: throw u.Fail();
            case PyDict dict:
                if (DictMethod(dict, name) is { } dm) return dm;
                if (UnsafeDictMethods.Contains(name)) return Unsafe(target, name);
                return dict.TryGet(name, out object? v) ? v : Undefined.Member(target, name);
            case string s:
                return (object?)StringMethods.Bind(s, name) ?? Undefined.Member(target, name);
            case List<object?> list:
                if (SequenceMethod(list, name) is { } lm) return lm;
                if (UnsafeListMethods.Contains(name)) return Unsafe(target, name);
                return Undefined.Member(target, name);
            case PyTuple tuple:
                return (object?)SequenceMethod(tuple.Items, name) ?? Undefined.Member(target, name);
            case Namespace ns:
                return ns.Attributes.TryGet(name, out object? a) ? a : Undefined.Member(target, name);
            case LoopContext loop:
                return loop.Get(name);
            default:
                return Undefined.Member(target, name);
        }
    }

    private static Undefined Unsafe(object? target, string name) =>
        new($"access to attribute '{name}' of '{PyStr.TypeName(target)}' object is unsafe");

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u: throw u.Fail();
            case PyDict dict:
                if (dict.TryGet(key, out object? v)) return v;
                break;
            case List<object?> list:
                if (IndexOf(key, list.Count) is int i) return list[i];
                break;
            case PyTuple tuple:
                if (IndexOf(key, tuple.Items.Count) is int j) return tuple.Items[j];
                break;
            case string s when key is long or bool:
                var points = PyText.HasSurrogates(s) ? PyText.CodePoints(s) : null;
                if (IndexOf(key, points?.Count ?? s.Length) is int k) return points is null ? s[k].ToString() : points[k];
                break;
        }
        if (key is string name && target is not null) return GetAttr(target, name);
        return Undefined.Item(target, key);
    }

    private static int? IndexOf(object? key, int count)
    {
        if (key is not (long or bool)) return null;
        long i = key is bool b ? (b ? 1 : 0) : (long)key;
        if (i < 0) i += count;
        return i >= 0 && i < count ? (int)i : null;
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined u) throw u.Fail();
        long st = step is null ? 1 : SliceIndex(step);
        if (st == 0) throw new TemplateError("slice step cannot be zero");
        IReadOnlyList<object?> items = target switch
        {
            List<object?> list => list,
            PyTuple t => t.Items,
            string s => PyText.CodePoints(s).Cast<object?>().ToList(),
            _ => throw new TemplateError($"'{PyStr.TypeName(target)}' object is not subscriptable"),
        };
        long n = items.Count;
        long lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
        long a = start is null ? (st > 0 ? lower : upper) : Clamp(SliceIndex(start), n, lower, upper);
        long b = stop is null ? (st > 0 ? upper : lower) : Clamp(SliceIndex(stop), n, lower, upper);
        var picked = new List<object?>();
        for (long i = a; st > 0 ? i < b : i > b; i += st) picked.Add(items[(int)i]);
        return target switch
        {
            List<object?> => picked,
            PyTuple => new PyTuple(picked),
            _ => string.Concat(picked.Cast<string>()),
        };
    }

    private static long Clamp(long index, long n, long lower, long upper)
    {
        if (index < 0) index += n;
        return Math.Clamp(index, lower, upper);
    }

    private static long SliceIndex(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateError("slice indices must be integers or None"),
    };

    private static BuiltinFunction? DictMethod(PyDict dict, string name) => name switch
    {
        "items" => new("items", (_, a) => { a.BindNone("items"); return dict.Items.Select(e => (object?)new PyTuple([PyDict.ExternalKey(e.Key), e.Value])).ToList(); }),
        "keys" => new("keys", (_, a) => { a.BindNone("keys"); return dict.Keys.Select(PyDict.ExternalKey).ToList(); }),
        "values" => new("values", (_, a) => { a.BindNone("values"); return dict.Values.ToList(); }),
        "get" => new("get", (_, a) =>
        {
            var p = a.Bind("get", ["key", "default"], [Arguments.Required, null]);
            return dict.TryGet(p[0], out object? v) ? v : p[1];
        }),
        "copy" => new("copy", (_, a) =>
        {
            a.BindNone("copy");
            var copy = new PyDict();
            foreach (var (k, v) in dict.Items) copy.Set(PyDict.ExternalKey(k), v);
            return copy;
        }),
        _ => null,
    };

    private static BuiltinFunction? SequenceMethod(IReadOnlyList<object?> items, string name) => name switch
    {
        "index" => new("index", (_, a) =>
        {
            var p = a.Bind("index", ["value"], [Arguments.Required]);
            for (int i = 0; i < items.Count; i++)
                if (PyOps.Equal(items[i], p[0])) return (long)i;
            throw new TemplateError($"{PyStr.Repr(p[0])} is not in list");
        }),
        "count" => new("count", (_, a) =>
        {
            var p = a.Bind("count", ["value"], [Arguments.Required]);
            return (long)items.Count(x => PyOps.Equal(x, p[0]));
        }),
        _ => null,
    };
}

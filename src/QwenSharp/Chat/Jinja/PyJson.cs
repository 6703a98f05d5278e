using System.Globalization;
using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>Python's json.dumps as HuggingFace's tojson filter calls it: ensure_ascii off by default (text kept
/// as is, only '"', '\' and control characters escaped), separators ", " and ": " (or "," and ": " with an
/// indent), keys in insertion order unless sort_keys, floats as Python's repr, NaN/Infinity as Python writes them.</summary>
internal sealed class PyJson
{
    private readonly StringBuilder _sb = new();
    private readonly string? _indent;
    private readonly string _itemSeparator;
    private readonly string _keySeparator;
    private readonly bool _ensureAscii;
    private readonly bool _sortKeys;
    private readonly int _maxLength;

    private PyJson(string? indent, string itemSeparator, string keySeparator, bool ensureAscii, bool sortKeys, int maxLength)
    {
        _indent = indent;
        _itemSeparator = itemSeparator;
        _keySeparator = keySeparator;
        _ensureAscii = ensureAscii;
        _sortKeys = sortKeys;
        _maxLength = maxLength;
    }

    /// <param name="indent">None, an int (that many spaces) or a string, as json.dumps takes it.</param>
    /// <param name="separators">None, or a (item, key) pair.</param>
    public static string Dumps(object? value, object? indent, object? separators, bool ensureAscii, bool sortKeys, int maxLength)
    {
        string? indentText = indent switch
        {
            null => null,
            long n => new string(' ', (int)Math.Clamp(n, 0, 1000)),
            bool b => b ? " " : "",
            string s => s,
            _ => throw new TemplateError($"tojson: indent must be an int or a string, not {PyStr.TypeName(indent)}"),
        };
        string item = indentText is null ? ", " : ",", key = ": ";
        if (separators is not null)
        {
            var pair = separators switch
            {
                PyTuple t => t.Items,
                List<object?> l => l,
                _ => throw new TemplateError("tojson: separators must be a pair of strings"),
            };
            if (pair.Count != 2 || pair[0] is not string a || pair[1] is not string b)
                throw new TemplateError("tojson: separators must be a pair of strings");
            (item, key) = (a, b);
        }
        var writer = new PyJson(indentText, item, key, ensureAscii, sortKeys, maxLength);
        writer.Write(value, 0);
        return writer._sb.ToString();
    }

    private void Write(object? value, int level)
    {
        PyOps.CheckLength(_sb.Length, _maxLength);
        switch (value)
        {
            case null: _sb.Append("null"); break;
            case bool b: _sb.Append(b ? "true" : "false"); break;
            case long l: _sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: _sb.Append(FloatText(d)); break;
            case string s: WriteString(s); break;
            case List<object?> list: WriteArray(list, level); break;
            case PyTuple t: WriteArray(t.Items, level); break;
            case PyDict dict: WriteObject(dict, level); break;
            default: throw new TemplateError($"Object of type {PyStr.TypeName(value)} is not JSON serializable");
        }
    }

    private static string FloatText(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyStr.FloatRepr(d);

    private void NewLine(int level)
    {
        if (_indent is null) return;
        _sb.Append('\n');
        for (int i = 0; i < level; i++) _sb.Append(_indent);
    }

    private void WriteArray(IReadOnlyList<object?> items, int level)
    {
        if (items.Count == 0)
        {
            _sb.Append("[]");
            return;
        }
        _sb.Append('[');
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) _sb.Append(_itemSeparator);
            NewLine(level + 1);
            Write(items[i], level + 1);
        }
        NewLine(level);
        _sb.Append(']');
    }

    private void WriteObject(PyDict dict, int level)
    {
        if (dict.Count == 0)
        {
            _sb.Append("{}");
            return;
        }
        var entries = dict.Items.Select(e => (Key: KeyText(PyDict.ExternalKey(e.Key)), e.Value)).ToList();
        if (_sortKeys)
        {
            var keys = dict.Keys.Select(PyDict.ExternalKey).ToList();
            var order = Enumerable.Range(0, keys.Count).ToList();
            PyOps.Sort(order, (x, y) => x == y ? 0 : PyOps.Compare(keys[x], keys[y], "<") is var c && c != 0 ? c : x.CompareTo(y));
            entries = order.Select(i => entries[i]).ToList();
        }
        _sb.Append('{');
        for (int i = 0; i < entries.Count; i++)
        {
            if (i > 0) _sb.Append(_itemSeparator);
            NewLine(level + 1);
            WriteString(entries[i].Key);
            _sb.Append(_keySeparator);
            Write(entries[i].Value, level + 1);
        }
        NewLine(level);
        _sb.Append('}');
    }

    private static string KeyText(object? key) => key switch
    {
        string s => s,
        null => "null",
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatText(d),
        _ => throw new TemplateError($"keys must be str, int, float, bool or None, not {PyStr.TypeName(key)}"),
    };

    private void WriteString(string s)
    {
        _sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': _sb.Append("\\\""); break;
                case '\\': _sb.Append("\\\\"); break;
                case '\n': _sb.Append("\\n"); break;
                case '\r': _sb.Append("\\r"); break;
                case '\t': _sb.Append("\\t"); break;
                case '\b': _sb.Append("\\b"); break;
                case '\f': _sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (_ensureAscii && c > 0x7e))
                        _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else _sb.Append(c);
                    break;
            }
        }
        _sb.Append('"');
    }
}

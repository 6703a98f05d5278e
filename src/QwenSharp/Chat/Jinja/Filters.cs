using System.Globalization;
using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>Jinja's built-in filters that chat templates use, with Jinja's signatures and defaults, plus
/// HuggingFace's tojson (json.dumps with ensure_ascii off, indent, separators and sort_keys).
/// String filters work on str(value), as Jinja's soft_str does (undefined gives "").</summary>
internal static class Filters
{
    private static readonly HashSet<string> Names =
    [
        "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ];

    public static bool Exists(string name) => Names.Contains(name);

    public static object? Apply(Interpreter it, string name, object? value, Arguments args)
    {
        int max = it.Limits.MaxOutputLength;
        switch (name)
        {
            case "abs":
                args.BindNone(name);
                return value switch { bool b => (object)(b ? 1L : 0L), long l => checked(Math.Abs(l)), double d => Math.Abs(d), _ => throw new TemplateError($"bad operand type for abs(): '{PyStr.TypeName(value)}'") };
            case "attr":
            {
                var p = args.Bind(name, ["name"], [Arguments.Required]);
                string attr = p[0] as string ?? throw new TemplateError("attr name must be a string");
                return value is PyDict ? Members.GetAttr(value, attr) is ICallable c ? c : Undefined.Member(value, attr) : Members.GetAttr(value, attr);
            }
            case "capitalize": args.BindNone(name); return StringMethods.Capitalize(PyStr.Str(value));
            case "center":
            {
                var p = args.Bind(name, ["width"], [80L]);
                string s = PyStr.Str(value);
                int width = (int)Math.Min(p[0] is long w ? w : 80, max);
                if (s.Length >= width) return s;
                int total = width - s.Length, left = total / 2 + (total & width & 1);
                return new string(' ', left) + s + new string(' ', total - left);
            }
            case "count" or "length": args.BindNone(name); return PyOps.Length(value);
            case "d" or "default":
            {
                var p = args.Bind(name, ["default_value", "boolean"], ["", false]);
                return value is Undefined || (PyOps.Truthy(p[1]) && !PyOps.Truthy(value)) ? p[0] : value;
            }
            case "dictsort": return DictSort(value, args);
            case "e" or "escape" or "forceescape": args.BindNone(name); return Escape(PyStr.Str(value));
            case "first":
                args.BindNone(name);
                foreach (object? item in PyOps.Iterate(value)) return item;
                return new Undefined("No first item, sequence was empty.");
            case "last":
            {
                args.BindNone(name);
                var items = PyOps.ToList(value);
                return items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty.");
            }
            case "float":
            {
                var p = args.Bind(name, ["default"], [0.0]);
                return ToFloat(value) ?? p[0];
            }
            case "format":
            {
                object? formatArgs = args.Named.Count > 0 ? NamedDict(args) : new PyTuple([.. args.Positional]);
                return PercentFormat.Apply(PyStr.Str(value), formatArgs, max);
            }
            case "indent": return Indent(PyStr.Str(value), args, max);
            case "int":
            {
                var p = args.Bind(name, ["default", "base"], [0L, 10L]);
                return ToInt(value, p[1] is long b ? (int)b : 10) ?? p[0];
            }
            case "items":
                args.BindNone(name);
                if (value is Undefined) return new List<object?>();
                if (value is not PyDict dict) throw new TemplateError("Can only get item pairs from a mapping.");
                return dict.Items.Select(e => (object?)new PyTuple([PyDict.ExternalKey(e.Key), e.Value])).ToList();
            case "join":
            {
                var p = args.Bind(name, ["d", "attribute"], ["", null]);
                var items = PyOps.Iterate(value);
                if (p[1] is not null) items = items.Select(x => AttributePath(x, p[1]));
                var sb = new StringBuilder();
                string sep = PyStr.Str(p[0]);
                bool first = true;
                foreach (object? item in items)
                {
                    if (!first) sb.Append(sep);
                    first = false;
                    sb.Append(PyStr.Str(item));
                    PyOps.CheckLength(sb.Length, max);
                }
                return sb.ToString();
            }
            case "list": args.BindNone(name); return PyOps.ToList(value);
            case "lower": args.BindNone(name); return PyStr.Str(value).ToLowerInvariant();
            case "upper": args.BindNone(name); return PyStr.Str(value).ToUpperInvariant();
            case "title": args.BindNone(name); return TitleFilter(PyStr.Str(value));
            case "map": return Map(it, value, args);
            case "max" or "min": return MinMax(value, args, name);
            case "select" or "reject": return Select(it, value, args, name == "select", byAttribute: false);
            case "selectattr" or "rejectattr": return Select(it, value, args, name == "selectattr", byAttribute: true);
            case "replace":
            {
                var p = args.Bind(name, ["old", "new", "count"], [Arguments.Required, Arguments.Required, null]);
                string result = StringMethods.Replace(PyStr.Str(value), PyStr.Str(p[0]), PyStr.Str(p[1]), p[2] is long c ? c : -1);
                PyOps.CheckLength(result.Length, max);
                return result;
            }
            case "reverse":
                args.BindNone(name);
                if (value is string s2) return string.Concat(Enumerable.Reverse(PyText.CodePoints(s2)));
                { var items = PyOps.ToList(value); items.Reverse(); return items; }
            case "round": return Round(value, args);
            case "safe": args.BindNone(name); return value;
            case "sort": return Sort(value, args);
            case "string": args.BindNone(name); return PyStr.Str(value);
            case "sum":
            {
                var p = args.Bind(name, ["attribute", "start"], [null, 0L]);
                object? total = p[1];
                foreach (object? item in PyOps.Iterate(value))
                    total = PyOps.Binary("+", total, p[0] is null ? item : AttributePath(item, p[0]), max);
                return total;
            }
            case "tojson":
            {
                var p = args.Bind(name, ["ensure_ascii", "indent", "separators", "sort_keys"], [false, null, null, false]);
                return PyJson.Dumps(value, p[1], p[2], PyOps.Truthy(p[0]), PyOps.Truthy(p[3]), max);
            }
            case "trim":
            {
                var p = args.Bind(name, ["chars"], [null]);
                return PyText.Strip(PyStr.Str(value), p[0] is null ? null : PyStr.Str(p[0]));
            }
            case "unique": return Unique(value, args);
            case "wordcount":
                args.BindNone(name);
            {
                // Runs of word characters, as Jinja's re.findall(r"\w+") counts them.
                long words = 0;
                bool inWord = false;
                foreach (char ch in PyStr.Str(value))
                {
                    bool w = char.IsLetterOrDigit(ch) || ch == '_';
                    if (w && !inWord) words++;
                    inWord = w;
                }
                return words;
            }
            default: throw new TemplateError($"no filter named '{name}'");
        }
    }

    /// <summary>Jinja's title filter (not str.title): the text is cut before runs of "-", whitespace, "(", "{",
    /// "[" and "&lt;"; each piece gets its first character upper-cased and the rest lower-cased ("it's" -> "It's").</summary>
    private static string TitleFilter(string s)
    {
        var sb = new StringBuilder(s.Length);
        int i = 0;
        while (i < s.Length)
        {
            int start = i;
            bool delimiter = IsTitleDelimiter(s[i]);
            while (i < s.Length && IsTitleDelimiter(s[i]) == delimiter) i++;
            string piece = s[start..i];
            sb.Append(char.ToUpperInvariant(piece[0])).Append(piece[1..].ToLowerInvariant());
        }
        return sb.ToString();
    }

    private static bool IsTitleDelimiter(char c) => c is '-' or '(' or '{' or '[' or '<' || PyText.IsSpace(c);

    private static PyDict NamedDict(Arguments args)
    {
        var d = new PyDict();
        foreach (var (k, v) in args.Named) d.Set(k, v);
        return d;
    }

    public static string Escape(string s) =>
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    private static object? ToInt(object? value, int numberBase)
    {
        switch (value)
        {
            case bool b: return b ? 1L : 0L;
            case long l: return l;
            case double d: return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : null;
            case string s:
                string t = PyText.Strip(s).Replace("_", "");
                try
                {
                    if (numberBase == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)) return v;
                    if (numberBase != 10 && t.Length > 0) return Convert.ToInt64(t, numberBase);
                }
                catch (Exception e) when (e is FormatException or OverflowException or ArgumentException) { }
                return ToFloat(s) is double f ? ToInt(f, 10) : null;
            default: return null;
        }
    }

    private static object? ToFloat(object? value) => value switch
    {
        bool b => b ? 1.0 : 0.0,
        long l => (double)l,
        double d => d,
        string s when double.TryParse(PyText.Strip(s).Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) => f,
        string s when PyText.Strip(s).ToLowerInvariant() is "inf" or "+inf" or "infinity" => double.PositiveInfinity,
        string s when PyText.Strip(s).ToLowerInvariant() is "-inf" or "-infinity" => double.NegativeInfinity,
        string s when PyText.Strip(s).ToLowerInvariant() is "nan" or "+nan" or "-nan" => double.NaN,
        _ => null,
    };

    /// <summary>indent(width=4, first=False, blank=False) as Jinja 3.1 writes it (a newline is added before
    /// splitting lines, so a trailing newline survives).</summary>
    private static string Indent(string s, Arguments args, int max)
    {
        var p = args.Bind("indent", ["width", "first", "blank"], [4L, false, false]);
        string indentation = p[0] switch
        {
            string str => str,
            long w => new string(' ', (int)Math.Clamp(w, 0, 1000)),
            _ => throw new TemplateError("indent width must be an int or a string"),
        };
        var lines = PyText.SplitLines(s + "\n");
        var sb = new StringBuilder();
        if (PyOps.Truthy(p[2]))
            sb.AppendJoin("\n" + indentation, lines);
        else
        {
            sb.Append(lines[0]);
            for (int i = 1; i < lines.Count; i++)
            {
                sb.Append('\n');
                if (lines[i].Length > 0) sb.Append(indentation);
                sb.Append(lines[i]);
            }
        }
        string result = PyOps.Truthy(p[1]) ? indentation + sb : sb.ToString();
        PyOps.CheckLength(result.Length, max);
        return result;
    }

    /// <summary>Jinja's attribute getter: "a.b.0" walks attributes/items, integer parts as indexes.</summary>
    public static object? AttributePath(object? item, object? path)
    {
        if (path is long index) return Members.GetItem(item, index);
        foreach (string part in PyStr.Str(path).Split('.'))
            item = int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? Members.GetItem(item, (long)i) : Members.GetItem(item, part);
        return item;
    }

    private static List<object?> Map(Interpreter it, object? value, Arguments args)
    {
        var items = PyOps.ToList(value);
        var attribute = args.Named.FirstOrDefault(kv => kv.Key == "attribute");
        if (args.Positional.Count == 0 && attribute.Key is not null)
        {
            var def = args.Named.FirstOrDefault(kv => kv.Key == "default");
            return items.Select(x =>
            {
                object? v = AttributePath(x, attribute.Value);
                return v is Undefined && def.Key is not null ? def.Value : v;
            }).ToList();
        }
        if (args.Positional.Count == 0 || args.Positional[0] is not string filter)
            throw new TemplateError("map requires a filter name or attribute=");
        var rest = new Arguments();
        rest.Positional.AddRange(args.Positional.Skip(1));
        rest.Named.AddRange(args.Named);
        return items.Select(x => Apply(it, filter, x, rest)).ToList();
    }

    private static List<object?> Select(Interpreter it, object? value, Arguments args, bool keep, bool byAttribute)
    {
        var items = PyOps.ToList(value);
        int skip = byAttribute ? 1 : 0;
        if (byAttribute && args.Positional.Count == 0) throw new TemplateError("selectattr/rejectattr need an attribute name");
        object? attribute = byAttribute ? args.Positional[0] : null;
        string? test = args.Positional.Count > skip ? args.Positional[skip] as string ?? throw new TemplateError("test name must be a string") : null;
        var testArgs = new Arguments();
        testArgs.Positional.AddRange(args.Positional.Skip(skip + 1));
        testArgs.Named.AddRange(args.Named);
        var result = new List<object?>();
        foreach (object? item in items)
        {
            it.Step();
            object? subject = byAttribute ? AttributePath(item, attribute) : item;
            bool pass = test is null ? PyOps.Truthy(subject) : Tests.Apply(test, subject, testArgs);
            if (pass == keep) result.Add(item);
        }
        return result;
    }

    private static object? SortKey(object? item, object? attribute, bool caseSensitive)
    {
        object? key = attribute is null ? item : AttributePath(item, attribute);
        return !caseSensitive && key is string s ? s.ToLowerInvariant() : key;
    }

    private static List<object?> Sort(object? value, Arguments args)
    {
        var p = args.Bind("sort", ["reverse", "case_sensitive", "attribute"], [false, false, null]);
        var items = PyOps.ToList(value);
        bool caseSensitive = PyOps.Truthy(p[1]);
        var keyed = items.Select((x, i) => (Key: SortKey(x, p[2], caseSensitive), Index: i, Item: x)).ToList();
        bool reverse = PyOps.Truthy(p[0]);
        PyOps.Sort(keyed, (a, b) =>
        {
            int c = PyOps.Compare(a.Key, b.Key, "<");
            if (reverse) c = -c;
            return c != 0 ? c : a.Index.CompareTo(b.Index);
        });
        return keyed.Select(k => k.Item).ToList();
    }

    private static List<object?> DictSort(object? value, Arguments args)
    {
        var p = args.Bind("dictsort", ["case_sensitive", "by", "reverse"], [false, "key", false]);
        if (value is not PyDict dict) throw new TemplateError("dictsort: value is not a dict");
        int pos = PyStr.Str(p[1]) switch { "key" => 0, "value" => 1, _ => throw new TemplateError("You can only sort by either 'key' or 'value'") };
        bool caseSensitive = PyOps.Truthy(p[0]);
        var pairs = dict.Items.Select((e, i) => (Pair: new PyTuple([PyDict.ExternalKey(e.Key), e.Value]), Index: i)).ToList();
        bool reverse = PyOps.Truthy(p[2]);
        PyOps.Sort(pairs, (a, b) =>
        {
            int c = PyOps.Compare(SortKey(a.Pair.Items[pos], null, caseSensitive), SortKey(b.Pair.Items[pos], null, caseSensitive), "<");
            if (reverse) c = -c;
            return c != 0 ? c : a.Index.CompareTo(b.Index);
        });
        return pairs.Select(x => (object?)x.Pair).ToList();
    }

    private static List<object?> Unique(object? value, Arguments args)
    {
        var p = args.Bind("unique", ["case_sensitive", "attribute"], [false, null]);
        bool caseSensitive = PyOps.Truthy(p[0]);
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (object? item in PyOps.Iterate(value))
        {
            object? key = SortKey(item, p[1], caseSensitive);
            if (seen.Any(s => PyOps.Equal(s, key))) continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    private static object? MinMax(object? value, Arguments args, string name)
    {
        var p = args.Bind(name, ["case_sensitive", "attribute"], [false, null]);
        bool caseSensitive = PyOps.Truthy(p[0]);
        object? best = null;
        object? bestKey = null;
        bool any = false;
        foreach (object? item in PyOps.Iterate(value))
        {
            object? key = SortKey(item, p[1], caseSensitive);
            int c = any ? PyOps.Compare(key, bestKey, "<") : 0;
            if (!any || (name == "min" ? c < 0 : c > 0))
            {
                best = item;
                bestKey = key;
                any = true;
            }
        }
        return any ? best : new Undefined($"No aggregated item, sequence was empty.");
    }

    private static object? Round(object? value, Arguments args)
    {
        var p = args.Bind("round", ["precision", "method"], [0L, "common"]);
        int digits = p[0] is long d ? (int)Math.Clamp(d, 0, 15) : 0;
        double x = PyOps.IsNumber(value) ? PyOps.AsDouble(value) : throw new TemplateError("round: value is not a number");
        double scale = Math.Pow(10, digits);
        double r = PyStr.Str(p[1]) switch
        {
            "common" => Math.Round(x, digits, MidpointRounding.ToEven),
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            _ => throw new TemplateError("method must be common, ceil or floor"),
        };
        return value is long or bool && PyStr.Str(p[1]) == "common" ? (object?)(long)r : r;
    }
}

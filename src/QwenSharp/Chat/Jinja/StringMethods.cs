using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>The Python str methods templates call ("x".startswith(...), .split, .strip, .replace, ...), with
/// Python's argument rules and results.</summary>
internal static class StringMethods
{
    public static BuiltinFunction? Bind(string s, string name)
    {
        Func<Arguments, object?>? body = name switch
        {
            "startswith" => a => Affix(s, a, "startswith", (t, p) => t.StartsWith(p, StringComparison.Ordinal)),
            "endswith" => a => Affix(s, a, "endswith", (t, p) => t.EndsWith(p, StringComparison.Ordinal)),
            "strip" => a => PyText.Strip(s, Chars(a, "strip")),
            "lstrip" => a => PyText.LStrip(s, Chars(a, "lstrip")),
            "rstrip" => a => PyText.RStrip(s, Chars(a, "rstrip")),
            "split" => a => Split(s, a, "split", fromRight: false),
            "rsplit" => a => Split(s, a, "rsplit", fromRight: true),
            "splitlines" => a => { a.BindNone("splitlines"); return PyText.SplitLines(s).Cast<object?>().ToList(); },
            "replace" => a => Replace(s, a),
            "upper" => a => { a.BindNone("upper"); return s.ToUpperInvariant(); },
            "lower" => a => { a.BindNone("lower"); return s.ToLowerInvariant(); },
            "title" => a => { a.BindNone("title"); return Title(s); },
            "capitalize" => a => { a.BindNone("capitalize"); return Capitalize(s); },
            "swapcase" => a => { a.BindNone("swapcase"); return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c))); },
            "find" => a => (long)Find(s, a, "find", last: false),
            "rfind" => a => (long)Find(s, a, "rfind", last: true),
            "index" => a => Found(Find(s, a, "index", last: false)),
            "rindex" => a => Found(Find(s, a, "rindex", last: true)),
            "count" => a => Count(s, a),
            "join" => a => string.Join(s, PyOps.Iterate(a.Bind("join", ["iterable"], [Arguments.Required])[0]).Select(JoinItem)),
            "isdigit" or "isnumeric" or "isdecimal" => a => { a.BindNone(name); return s.Length > 0 && s.All(char.IsDigit); },
            "isalpha" => a => { a.BindNone(name); return s.Length > 0 && s.All(char.IsLetter); },
            "isalnum" => a => { a.BindNone(name); return s.Length > 0 && s.All(char.IsLetterOrDigit); },
            "isspace" => a => { a.BindNone(name); return s.Length > 0 && s.All(PyText.IsSpace); },
            "isupper" => a => { a.BindNone(name); return s.Any(char.IsUpper) && !s.Any(char.IsLower); },
            "islower" => a => { a.BindNone(name); return s.Any(char.IsLower) && !s.Any(char.IsUpper); },
            "removeprefix" => a => { string p = Str(a.Bind(name, ["prefix"], [Arguments.Required])[0], name); return s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s; },
            "removesuffix" => a => { string p = Str(a.Bind(name, ["suffix"], [Arguments.Required])[0], name); return p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s; },
            "zfill" => a => ZFill(s, a),
            "format" => a => Format(s, a),
            _ => null,
        };
        return body is null ? null : new BuiltinFunction(name, (_, a) => body(a));
    }

    private static string JoinItem(object? item) =>
        item as string ?? throw new TemplateError($"sequence item: expected str instance, {PyStr.TypeName(item)} found");

    private static string Str(object? v, string method) =>
        v as string ?? throw new TemplateError($"{method}() argument must be str, not {PyStr.TypeName(v)}");

    private static string? Chars(Arguments a, string method)
    {
        object? chars = a.Bind(method, ["chars"], [null])[0];
        return chars is null ? null : Str(chars, method);
    }

    private static bool Affix(string s, Arguments a, string method, Func<string, string, bool> test)
    {
        var p = a.Bind(method, ["prefix", "start", "end"], [Arguments.Required, null, null]);
        string target = Sub(s, p[1], p[2]);
        return p[0] switch
        {
            string one => test(target, one),
            PyTuple t => t.Items.Any(x => test(target, Str(x, method))),
            _ => throw new TemplateError($"{method} first arg must be str or a tuple of str, not {PyStr.TypeName(p[0])}"),
        };
    }

    private static string Sub(string s, object? start, object? end)
    {
        if (start is null && end is null) return s;
        return (string)Members.Slice(s, start, end, null)!;
    }

    private static List<object?> Split(string s, Arguments a, string method, bool fromRight)
    {
        var p = a.Bind(method, ["sep", "maxsplit"], [null, -1L]);
        long max = p[1] is long m ? m : p[1] is bool b ? (b ? 1 : 0) : throw new TemplateError($"{method}() maxsplit must be an integer");
        if (max < 0) max = long.MaxValue;
        var parts = new List<string>();
        if (p[0] is null)
        {
            if (!fromRight)
            {
                int i = 0;
                while (true)
                {
                    while (i < s.Length && PyText.IsSpace(s[i])) i++;
                    if (i >= s.Length) break;
                    if (parts.Count == max)
                    {
                        parts.Add(PyText.RStrip(s[i..]));
                        break;
                    }
                    int j = i;
                    while (j < s.Length && !PyText.IsSpace(s[j])) j++;
                    parts.Add(s[i..j]);
                    i = j;
                }
            }
            else
            {
                int i = s.Length;
                while (true)
                {
                    while (i > 0 && PyText.IsSpace(s[i - 1])) i--;
                    if (i <= 0) break;
                    if (parts.Count == max)
                    {
                        parts.Add(PyText.LStrip(s[..i]));
                        break;
                    }
                    int j = i;
                    while (j > 0 && !PyText.IsSpace(s[j - 1])) j--;
                    parts.Add(s[j..i]);
                    i = j;
                }
                parts.Reverse();
            }
            return parts.Cast<object?>().ToList();
        }
        string sep = Str(p[0], method);
        if (sep.Length == 0) throw new TemplateError("empty separator");
        if (!fromRight)
        {
            int start = 0;
            while (parts.Count < max)
            {
                int k = s.IndexOf(sep, start, StringComparison.Ordinal);
                if (k < 0) break;
                parts.Add(s[start..k]);
                start = k + sep.Length;
            }
            parts.Add(s[start..]);
        }
        else
        {
            int end = s.Length;
            while (parts.Count < max && end > 0)
            {
                int k = s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
                if (k < 0) break;
                parts.Add(s[(k + sep.Length)..end]);
                end = k;
            }
            parts.Add(s[..end]);
            parts.Reverse();
        }
        return parts.Cast<object?>().ToList();
    }

    private static string Replace(string s, Arguments a)
    {
        var p = a.Bind("replace", ["old", "new", "count"], [Arguments.Required, Arguments.Required, -1L]);
        return Replace(s, Str(p[0], "replace"), Str(p[1], "replace"), p[2] is long c ? c : -1);
    }

    /// <summary>str.replace with Python's rules, including an empty "old" (inserted between every character).</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) count = long.MaxValue;
        var sb = new StringBuilder();
        if (old.Length == 0)
        {
            var points = PyText.CodePoints(s);
            long done = 0;
            for (int i = 0; i <= points.Count; i++)
            {
                if (done < count) { sb.Append(replacement); done++; }
                if (i < points.Count) sb.Append(points[i]);
            }
            return sb.ToString();
        }
        int start = 0;
        long n = 0;
        while (n < count)
        {
            int k = s.IndexOf(old, start, StringComparison.Ordinal);
            if (k < 0) break;
            sb.Append(s, start, k - start).Append(replacement);
            start = k + old.Length;
            n++;
        }
        sb.Append(s, start, s.Length - start);
        return sb.ToString();
    }

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            bool cased = char.IsUpper(c) || char.IsLower(c) || char.IsLetter(c) && char.ToUpperInvariant(c) != char.ToLowerInvariant(c);
            sb.Append(!cased ? c : previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = cased;
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static int Find(string s, Arguments a, string method, bool last)
    {
        var p = a.Bind(method, ["sub", "start", "end"], [Arguments.Required, null, null]);
        string sub = Str(p[0], method);
        if (p[1] is not null || p[2] is not null) throw new TemplateError($"{method}() with start/end is not supported");
        return last ? s.LastIndexOf(sub, StringComparison.Ordinal) : s.IndexOf(sub, StringComparison.Ordinal);
    }

    private static long Found(int index) => index >= 0 ? index : throw new TemplateError("substring not found");

    private static long Count(string s, Arguments a)
    {
        string sub = Str(a.Bind("count", ["sub"], [Arguments.Required])[0], "count");
        if (sub.Length == 0) return PyText.Length(s) + 1;
        long n = 0;
        for (int k = s.IndexOf(sub, StringComparison.Ordinal); k >= 0; k = s.IndexOf(sub, k + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    private static string ZFill(string s, Arguments a)
    {
        object? w = a.Bind("zfill", ["width"], [Arguments.Required])[0];
        int width = w is long l ? (int)Math.Min(l, 1 << 20) : throw new TemplateError("zfill() width must be an integer");
        if (s.Length >= width) return s;
        int sign = s.Length > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
        return s[..sign] + new string('0', width - s.Length) + s[sign..];
    }

    /// <summary>str.format for plain fields: {}, {0}, {name}, with !r / !s and {{ }} escapes.</summary>
    private static string Format(string s, Arguments a)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '{' && i + 1 < s.Length && s[i + 1] == '{') { sb.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < s.Length && s[i + 1] == '}') { sb.Append('}'); i++; continue; }
            if (c == '}') throw new TemplateError("single '}' encountered in format string");
            if (c != '{') { sb.Append(c); continue; }
            int close = s.IndexOf('}', i);
            if (close < 0) throw new TemplateError("single '{' encountered in format string");
            string field = s[(i + 1)..close];
            i = close;
            bool repr = false;
            int bang = field.IndexOf('!');
            if (bang >= 0)
            {
                repr = field[(bang + 1)..] == "r";
                field = field[..bang];
            }
            if (field.Contains(':')) throw new TemplateError("format specs in str.format are not supported");
            object? value;
            if (field.Length == 0) value = auto < a.Positional.Count ? a.Positional[auto++] : throw new TemplateError("Replacement index out of range");
            else if (int.TryParse(field, out int n)) value = n < a.Positional.Count ? a.Positional[n] : throw new TemplateError($"Replacement index {n} out of range");
            else
            {
                var named = a.Named.FirstOrDefault(kv => kv.Key == field);
                if (named.Key is null) throw new TemplateError($"KeyError: '{field}'");
                value = named.Value;
            }
            sb.Append(repr ? PyStr.Repr(value) : PyStr.Str(value));
        }
        return sb.ToString();
    }
}

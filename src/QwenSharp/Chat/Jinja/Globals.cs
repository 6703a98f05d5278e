using System.Globalization;
using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>The global functions a chat template can call: Jinja's range (bounded as in the sandbox),
/// namespace and dict, and HuggingFace's raise_exception and strftime_now.</summary>
internal static class Globals
{
    public static void AddTo(Interpreter.Frame vars, ChatTemplateLimits limits, DateTime now)
    {
        vars.Set("range", new BuiltinFunction("range", (_, a) => Range(a, limits.MaxRange)));
        vars.Set("namespace", new BuiltinFunction("namespace", (_, a) =>
        {
            var ns = new Namespace();
            foreach (object? p in a.Positional)
            {
                if (p is not PyDict d) throw new TemplateError("namespace() positional argument must be a dict");
                foreach (var (k, v) in d.Items) ns.Attributes.Set(PyDict.ExternalKey(k), v);
            }
            foreach (var (k, v) in a.Named) ns.Attributes.Set(k, v);
            return ns;
        }));
        vars.Set("dict", new BuiltinFunction("dict", (_, a) =>
        {
            var d = new PyDict();
            foreach (object? p in a.Positional)
            {
                if (p is not PyDict src) throw new TemplateError("dict() positional argument must be a dict");
                foreach (var (k, v) in src.Items) d.Set(PyDict.ExternalKey(k), v);
            }
            foreach (var (k, v) in a.Named) d.Set(k, v);
            return d;
        }));
        vars.Set("raise_exception", new BuiltinFunction("raise_exception", (_, a) =>
        {
            var p = a.Bind("raise_exception", ["message"], [Arguments.Required]);
            throw new TemplateError(PyStr.Str(p[0]));
        }));
        vars.Set("strftime_now", new BuiltinFunction("strftime_now", (_, a) =>
        {
            var p = a.Bind("strftime_now", ["format"], [Arguments.Required]);
            return StrFTime(PyStr.Str(p[0]), now);
        }));
    }

    private static List<object?> Range(Arguments a, int maxRange)
    {
        static long Int(object? v) => v switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new TemplateError($"'{PyStr.TypeName(v)}' object cannot be interpreted as an integer"),
        };
        if (a.Named.Count > 0) throw new TemplateError("range() takes no keyword arguments");
        long start = 0, stop, step = 1;
        switch (a.Positional.Count)
        {
            case 1: stop = Int(a.Positional[0]); break;
            case 2: start = Int(a.Positional[0]); stop = Int(a.Positional[1]); break;
            case 3: start = Int(a.Positional[0]); stop = Int(a.Positional[1]); step = Int(a.Positional[2]); break;
            default: throw new TemplateError($"range expected 1 to 3 arguments, got {a.Positional.Count}");
        }
        if (step == 0) throw new TemplateError("range() arg 3 must not be zero");
        double count = step > 0 ? Math.Ceiling((stop - (double)start) / step) : Math.Ceiling((start - (double)stop) / -step);
        if (count > maxRange) throw new TemplateError($"range too big: {count:0} items (limit {maxRange})");
        var list = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
        return list;
    }

    /// <summary>Python's datetime.strftime for the common directives (C locale).</summary>
    public static string StrFTime(string format, DateTime t)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char c = format[++i];
            bool noPad = false;
            if (c == '-' && i + 1 < format.Length)
            {
                noPad = true;
                c = format[++i];
            }
            string Pad(int v, int width) => noPad ? v.ToString(inv) : v.ToString(new string('0', width), inv);
            sb.Append(c switch
            {
                'a' => t.ToString("ddd", inv),
                'A' => t.ToString("dddd", inv),
                'w' => ((int)t.DayOfWeek).ToString(inv),
                'd' => Pad(t.Day, 2),
                'e' => t.Day.ToString(inv).PadLeft(2),
                'b' or 'h' => t.ToString("MMM", inv),
                'B' => t.ToString("MMMM", inv),
                'm' => Pad(t.Month, 2),
                'y' => Pad(t.Year % 100, 2),
                'Y' => t.Year.ToString(inv),
                'H' => Pad(t.Hour, 2),
                'I' => Pad(t.Hour % 12 == 0 ? 12 : t.Hour % 12, 2),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'M' => Pad(t.Minute, 2),
                'S' => Pad(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", inv),
                'j' => Pad(t.DayOfYear, 3),
                'Z' or 'z' => "",
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + c,
            });
        }
        return sb.ToString();
    }
}

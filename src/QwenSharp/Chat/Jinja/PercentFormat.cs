using System.Globalization;
using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>Python's printf-style "fmt % args" (and the format filter) for the conversions templates use:
/// %s %r %d %i %f %x %% with optional width/precision and %(name)s keys.</summary>
internal static class PercentFormat
{
    public static string Apply(string format, object? args, int maxLength)
    {
        IReadOnlyList<object?> positional = args is PyTuple t ? t.Items : [args];
        PyDict? mapping = args as PyDict;
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= format.Length) throw new TemplateError("incomplete format");
            object? value;
            string? key = null;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0) throw new TemplateError("incomplete format key");
                key = format[(i + 1)..close];
                i = close + 1;
            }
            int specStart = i;
            while (i < format.Length && "-+ #0123456789.".Contains(format[i])) i++;
            if (i >= format.Length) throw new TemplateError("incomplete format");
            string spec = format[specStart..i];
            char conv = format[i];
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }
            if (key is not null)
            {
                if (mapping is null) throw new TemplateError("format requires a mapping");
                if (!mapping.TryGet(key, out value)) throw new TemplateError($"KeyError: '{key}'");
            }
            else
            {
                if (next >= positional.Count) throw new TemplateError("not enough arguments for format string");
                value = positional[next++];
            }
            sb.Append(Convert(conv, spec, value));
            PyOps.CheckLength(sb.Length, maxLength);
        }
        if (mapping is null && next < positional.Count)
            throw new TemplateError("not all arguments converted during string formatting");
        return sb.ToString();
    }

    private static string Convert(char conv, string spec, object? value)
    {
        bool left = spec.Contains('-');
        string widthPrecision = spec.TrimStart('-', '+', ' ', '#', '0');
        int dot = widthPrecision.IndexOf('.');
        int width = int.TryParse(dot < 0 ? widthPrecision : widthPrecision[..dot], out int w) ? w : 0;
        int? precision = dot >= 0 && int.TryParse(widthPrecision[(dot + 1)..], out int p) ? p : dot >= 0 ? 0 : null;
        string text = conv switch
        {
            's' => PyStr.Str(value),
            'r' => PyStr.Repr(value),
            'd' or 'i' when PyOps.IsNumber(value) => ((long)Math.Truncate(PyOps.AsDouble(value))).ToString(CultureInfo.InvariantCulture),
            'f' or 'F' when PyOps.IsNumber(value) => PyOps.AsDouble(value).ToString("F" + (precision ?? 6), CultureInfo.InvariantCulture),
            'x' when value is long or bool => System.Convert.ToInt64(PyOps.AsDouble(value)).ToString("x", CultureInfo.InvariantCulture),
            _ => throw new TemplateError($"unsupported format character '{conv}' for {PyStr.TypeName(value)}"),
        };
        if (conv is 's' or 'r' && precision is int cut && cut < text.Length) text = text[..cut];
        if (text.Length < width) text = left ? text.PadRight(width) : (spec.Contains('0') && conv is not ('s' or 'r') ? text.PadLeft(width, '0') : text.PadLeft(width));
        return text;
    }
}

using System.Globalization;
using System.Text.Json;

namespace QwenSharp.Server;

/// <summary>Ollama's keep_alive: a duration string ("5m", "1h30m", "10s", "0"), a number of seconds, or a negative
/// value for "forever". Null = the server's default.</summary>
internal static class KeepAlive
{
    public static TimeSpan? Parse(JsonElement? value)
    {
        if (value is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return null;
        if (e.ValueKind == JsonValueKind.Number)
        {
            double seconds = e.GetDouble();
            return seconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds);
        }
        if (e.ValueKind != JsonValueKind.String) throw ApiException.BadRequest("keep_alive must be a duration string or a number of seconds", "keep_alive");
        return ParseString(e.GetString()!);
    }

    public static TimeSpan ParseString(string text)
    {
        text = text.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double plain))
            return plain < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(plain);
        bool negative = text.StartsWith('-');
        if (negative) text = text[1..];
        TimeSpan total = TimeSpan.Zero;
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (start == i || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture, out double n))
                throw ApiException.BadRequest($"keep_alive \"{text}\" is not a duration like 5m or 30s", "keep_alive");
            int unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i])) i++;
            total += text[unitStart..i] switch
            {
                "h" => TimeSpan.FromHours(n),
                "m" => TimeSpan.FromMinutes(n),
                "s" or "" => TimeSpan.FromSeconds(n),
                "ms" => TimeSpan.FromMilliseconds(n),
                _ => throw ApiException.BadRequest($"keep_alive \"{text}\" has an unknown unit", "keep_alive"),
            };
        }
        return negative ? Timeout.InfiniteTimeSpan : total;
    }
}

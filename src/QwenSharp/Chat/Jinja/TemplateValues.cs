using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Chat.Jinja;

/// <summary>JSON to template values, as Python's json.loads would give them to HuggingFace: objects become
/// dicts in document order, arrays lists, numbers int when written without a fraction or exponent and float
/// otherwise, true/false/null bool/None.</summary>
internal static class TemplateValues
{
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => ObjectFrom(e.EnumerateObject().Select(p => (p.Name, FromJson(p.Value)))),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => Number(e.GetRawText()),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => ObjectFrom(o.Select(p => (p.Key, FromJson(p.Value)))),
        JsonArray a => a.Select(FromJson).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.Number => Number(v.ToJsonString()),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        },
        _ => null,
    };

    private static PyDict ObjectFrom(IEnumerable<(string Key, object? Value)> members)
    {
        var d = new PyDict();
        foreach (var (k, v) in members) d.Set(k, v);
        return d;
    }

    private static object Number(string raw)
    {
        if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
            return l;
        return double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}

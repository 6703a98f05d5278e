using System.Text.Json;
using QwenSharp.Chat;

namespace QwenSharp.Server;

/// <summary>Tool calls between the wire formats and <see cref="ToolCall"/>: OpenAI carries arguments as a JSON
/// string, Ollama as a JSON object.</summary>
internal static class ToolCallWire
{
    public static List<ToolCall>? FromOpenAi(List<OpenAiToolCall>? calls)
    {
        if (calls is null || calls.Count == 0) return null;
        var result = new List<ToolCall>(calls.Count);
        foreach (var c in calls)
        {
            string name = c.Function?.Name is { Length: > 0 } n ? n : throw ApiException.BadRequest("every tool call needs function.name", "messages");
            result.Add(new ToolCall(name, ArgumentsText(c.Function.Arguments), c.Id));
        }
        return result;
    }

    public static List<ToolCall>? FromOllama(JsonElement? calls)
    {
        if (calls is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return null;
        if (e.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest("tool_calls must be an array", "messages");
        var result = new List<ToolCall>();
        foreach (var c in e.EnumerateArray())
        {
            if (c.ValueKind != JsonValueKind.Object || !c.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object
                || !f.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                throw ApiException.BadRequest("every tool call needs function.name", "messages");
            string? id = c.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
            result.Add(new ToolCall(name.GetString()!, ArgumentsText(f.TryGetProperty("arguments", out var a) ? a : null), id));
        }
        return result.Count == 0 ? null : result;
    }

    /// <summary>Arguments as JSON text, whether the client sent the text (OpenAI) or the object (Ollama).</summary>
    private static string ArgumentsText(JsonElement? arguments) => arguments switch
    {
        null => "{}",
        { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => "{}",
        { ValueKind: JsonValueKind.String } s => s.GetString()!,
        { } other => other.GetRawText(),
    };

    public static string NewCallId() => "call_" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>OpenAI's message.tool_calls; calls without an id get one.</summary>
    public static object[] OpenAi(IReadOnlyList<ToolCall> calls) =>
        calls.Select(c => (object)new { id = c.Id ?? NewCallId(), type = "function", function = new { name = c.Name, arguments = c.ArgumentsJson } }).ToArray();

    /// <summary>OpenAI's streamed delta.tool_calls: each call whole, with its index.</summary>
    public static object[] OpenAiDelta(IReadOnlyList<ToolCall> calls) =>
        calls.Select((c, i) => (object)new { index = i, id = c.Id ?? NewCallId(), type = "function", function = new { name = c.Name, arguments = c.ArgumentsJson } }).ToArray();

    /// <summary>Ollama's message.tool_calls, arguments as an object (text that is not an object is sent as a string).</summary>
    public static object[] Ollama(IReadOnlyList<ToolCall> calls) =>
        calls.Select(c => (object)new { function = new { name = c.Name, arguments = ArgumentsObject(c.ArgumentsJson) } }).ToArray();

    private static object ArgumentsObject(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc.RootElement.Clone();
        }
        catch (JsonException) { }
        return json;
    }
}

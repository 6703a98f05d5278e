using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenSharp.Chat;

/// <summary>
/// The variables HuggingFace's apply_chat_template passes to a template: messages (OpenAI-style objects: role,
/// content, optional tool_calls [{id, type: "function", function: {name, arguments}}], tool_call_id, name),
/// tools (OpenAI-style definitions, or none), add_generation_prompt, bos_token and eos_token (left undefined when
/// null, as for a tokenizer without them), and any extra variables (e.g. enable_thinking).
/// JSON goes through unchanged, so a server can pass the request's messages and tools straight in.
/// </summary>
public sealed record ChatTemplateInput
{
    public JsonArray Messages { get; init; } = [];
    public JsonArray? Tools { get; init; }
    public bool AddGenerationPrompt { get; init; } = true;
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }

    /// <summary>More template variables; a name here replaces the standard one of the same name.</summary>
    public IReadOnlyDictionary<string, JsonNode?> Variables { get; init; } = new Dictionary<string, JsonNode?>();

    /// <summary>The time strftime_now() reports (default: the local time at rendering).</summary>
    public DateTime? Now { get; init; }

    /// <summary>Messages (and tools) from JSON text: each a JSON array.</summary>
    public static ChatTemplateInput FromJson(string messagesJson, string? toolsJson = null)
    {
        return new ChatTemplateInput
        {
            Messages = ParseArray(messagesJson, "messages"),
            Tools = toolsJson is null ? null : ParseArray(toolsJson, "tools"),
        };
    }

    /// <summary>Messages (and tools) from parsed JSON arrays, e.g. the "messages" and "tools" of an OpenAI request.</summary>
    public static ChatTemplateInput FromJson(JsonElement messages, JsonElement? tools = null)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw new QwenSharpException("messages: expected a JSON array");
        return new ChatTemplateInput
        {
            Messages = JsonArray.Create(messages.Clone())!,
            Tools = tools is { ValueKind: JsonValueKind.Array } t ? JsonArray.Create(t.Clone()) : null,
        };
    }

    /// <summary>Messages from <see cref="ChatMessage"/>s; tool calls become {id, type, function: {name,
    /// arguments}} with the arguments as a JSON object when they parse as one (templates expect a mapping there:
    /// they print it with tojson), else as the string.</summary>
    public static ChatTemplateInput FromMessages(IEnumerable<ChatMessage> messages, IEnumerable<JsonNode>? tools = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var array = new JsonArray();
        foreach (ChatMessage m in messages) array.Add(ToJson(m));
        return new ChatTemplateInput
        {
            Messages = array,
            Tools = tools is null ? null : new JsonArray(tools.Select(t => t.DeepClone()).ToArray()),
        };
    }

    public static JsonObject ToJson(ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var o = new JsonObject { ["role"] = message.Role, ["content"] = message.Content };
        if (message.ToolCalls is { Count: > 0 } calls)
        {
            var array = new JsonArray();
            foreach (ToolCall call in calls)
            {
                var c = new JsonObject();
                if (call.Id is not null) c["id"] = call.Id;
                c["type"] = "function";
                c["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = ArgumentsNode(call.ArgumentsJson) };
                array.Add(c);
            }
            o["tool_calls"] = array;
        }
        if (message.ToolCallId is not null) o["tool_call_id"] = message.ToolCallId;
        if (message.Name is not null) o["name"] = message.Name;
        return o;
    }

    private static JsonNode? ArgumentsNode(string arguments)
    {
        try
        {
            if (JsonNode.Parse(arguments) is JsonObject parsed) return parsed;
        }
        catch (JsonException) { }
        return JsonValue.Create(arguments);
    }

    private static JsonArray ParseArray(string json, string what)
    {
        try
        {
            return JsonNode.Parse(json) as JsonArray ?? throw new QwenSharpException($"{what}: expected a JSON array");
        }
        catch (JsonException e)
        {
            throw new QwenSharpException($"{what}: invalid JSON ({e.Message})");
        }
    }
}

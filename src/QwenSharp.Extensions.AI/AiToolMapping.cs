using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using QwenSharp.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using QwenMessage = QwenSharp.Chat.ChatMessage;

namespace QwenSharp.Extensions.AI;

/// <summary>Function calling between Microsoft.Extensions.AI and the library: AIFunction declarations become
/// OpenAI-style tool definitions for the chat template, FunctionCallContent / FunctionResultContent become an
/// assistant's tool_calls / "tool" messages, and parsed calls come back as FunctionCallContent.</summary>
internal static class AiToolMapping
{
    /// <summary>The declared functions as a JSON array of {type: "function", function: {name, description,
    /// parameters}}; null when there are none.</summary>
    public static string? ToolsJson(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools) return null;
        var array = new JsonArray();
        foreach (var f in tools.OfType<AIFunctionDeclaration>())
        {
            var function = new JsonObject { ["name"] = f.Name };
            if (!string.IsNullOrEmpty(f.Description)) function["description"] = f.Description;
            function["parameters"] = JsonNode.Parse(f.JsonSchema.GetRawText());
            array.Add(new JsonObject { ["type"] = "function", ["function"] = function });
        }
        return array.Count == 0 ? null : array.ToJsonString();
    }

    /// <summary>Adds one M.E.AI message: function results become one "tool" message each; function calls ride on
    /// the assistant message as its tool calls.</summary>
    public static void Add(List<QwenMessage> into, AiChatMessage m)
    {
        var results = m.Contents.OfType<FunctionResultContent>().ToList();
        if (results.Count > 0)
        {
            if (m.Text.Length > 0) into.Add(new QwenMessage(m.Role.Value, m.Text));
            foreach (var r in results) into.Add(QwenMessage.Tool(ResultText(r.Result), r.CallId));
            return;
        }
        var calls = m.Contents.OfType<FunctionCallContent>()
            .Select(c => new ToolCall(c.Name, JsonSerializer.Serialize(c.Arguments ?? new Dictionary<string, object?>(), AIJsonUtilities.DefaultOptions), c.CallId))
            .ToList();
        into.Add(new QwenMessage(m.Role.Value, m.Text) { ToolCalls = calls.Count > 0 ? calls : null });
    }

    private static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement e when e.ValueKind == JsonValueKind.String => e.GetString()!,
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions),
    };

    /// <summary>A parsed call as FunctionCallContent (with a fresh call id when the model gave none); arguments
    /// that are not a JSON object are reported through the content's Exception, as M.E.AI's own clients do.</summary>
    public static FunctionCallContent Content(ToolCall call)
    {
        string callId = call.Id ?? "call_" + Guid.NewGuid().ToString("N")[..24];
        try
        {
            var arguments = JsonSerializer.Deserialize<Dictionary<string, object?>>(call.ArgumentsJson, AIJsonUtilities.DefaultOptions);
            return new FunctionCallContent(callId, call.Name, arguments);
        }
        catch (JsonException e)
        {
            return new FunctionCallContent(callId, call.Name) { Exception = e };
        }
    }
}

using System.Text;
using System.Text.Json;

namespace QwenSharp.Chat;

/// <summary>What a reply says once its tool calls are taken out.</summary>
/// <param name="Content">The reply's text without the call blocks, trimmed of surrounding whitespace.</param>
/// <param name="ToolCalls">The calls, in order (ids are left null: the API layer assigns them).</param>
public sealed record ParsedReply(string Content, IReadOnlyList<ToolCall> ToolCalls);

/// <summary>
/// Extracts Qwen/Hermes-style tool calls from generated text: blocks
/// <c>&lt;tool_call&gt;{"name": "...", "arguments": {...}}&lt;/tool_call&gt;</c>, with any whitespace around the JSON.
/// "arguments" may be an object (kept as its JSON text, exactly as the model wrote it) or a string holding JSON
/// (used as it is); "parameters" is accepted for "arguments"; missing arguments are "{}".
/// A block whose body is not a JSON object with a string "name", or that is never closed, is not a call: it stays
/// in the content as text, so nothing the model wrote is lost.
/// </summary>
public static class ToolCallParser
{
    public const string OpenTag = "<tool_call>";
    public const string CloseTag = "</tool_call>";

    public static ParsedReply Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var calls = new List<ToolCall>();
        var content = new StringBuilder();
        int pos = 0;
        while (true)
        {
            int open = text.IndexOf(OpenTag, pos, StringComparison.Ordinal);
            if (open < 0) break;
            int bodyStart = open + OpenTag.Length;
            int close = text.IndexOf(CloseTag, bodyStart, StringComparison.Ordinal);
            if (close < 0) break;
            content.Append(text, pos, open - pos);
            if (TryParseCall(text[bodyStart..close], out ToolCall? call)) calls.Add(call);
            else content.Append(text, open, close + CloseTag.Length - open);
            pos = close + CloseTag.Length;
        }
        content.Append(text, pos, text.Length - pos);
        return new ParsedReply(calls.Count == 0 ? text : content.ToString().Trim(), calls);
    }

    /// <summary>True when the text contains an opened tool-call block (a streaming API may hold text back from then on).</summary>
    public static bool MayContainCall(string text) => text.Contains(OpenTag, StringComparison.Ordinal);

    private static bool TryParseCall(string body, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ToolCall? call)
    {
        call = null;
        try
        {
            using var doc = JsonDocument.Parse(body.Trim());
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            if (!root.TryGetProperty("name", out JsonElement name) || name.ValueKind != JsonValueKind.String) return false;
            string arguments = "{}";
            if (root.TryGetProperty("arguments", out JsonElement args) || root.TryGetProperty("parameters", out args))
            {
                arguments = args.ValueKind switch
                {
                    JsonValueKind.String => args.GetString()!,
                    JsonValueKind.Object => args.GetRawText(),
                    JsonValueKind.Null => "{}",
                    _ => null!,
                };
                if (arguments is null) return false;
            }
            call = new ToolCall(name.GetString()!, arguments);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

namespace QwenSharp.Chat;

/// <summary>The tool-related parts of a message, for templates that render tools: the assistant's tool calls,
/// and on a "tool" message the id of the call it answers and the tool's name.</summary>
public sealed partial record ChatMessage
{
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }
    public string? ToolCallId { get; init; }
    public string? Name { get; init; }

    public static ChatMessage Tool(string content, string? toolCallId = null, string? name = null) =>
        new("tool", content) { ToolCallId = toolCallId, Name = name };
}

namespace QwenSharp.Chat;

/// <summary>A function call the assistant made: the function's name and its arguments as JSON text
/// (as OpenAI's API carries them), with the call's id when it has one.</summary>
public sealed record ToolCall(string Name, string ArgumentsJson, string? Id = null);

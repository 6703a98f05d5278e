using QwenSharp.Models;

namespace QwenSharp.Chat;

/// <summary>Turns a conversation into prompt text for a model. The seam where a model's own chat template (a Jinja
/// engine) plugs in; <see cref="ChatMlPromptRenderer"/> is Qwen1.5's ChatML written out by hand.</summary>
public interface IChatPromptRenderer
{
    /// <param name="toolsJson">The request's tool definitions as a JSON array, or null; a renderer that cannot
    /// present tools to the model ignores them.</param>
    string Render(Qwen2Model model, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? toolsJson = null);
}

/// <summary>Renders every model with <see cref="ChatMlTemplate"/> (Qwen1.5 chat models use exactly this template).</summary>
public sealed class ChatMlPromptRenderer : IChatPromptRenderer
{
    public static ChatMlPromptRenderer Instance { get; } = new();

    public string Render(Qwen2Model model, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? toolsJson = null) =>
        ChatMlTemplate.Render(messages, addGenerationPrompt);
}

/// <summary>A tool call found in generated text.</summary>
public sealed record ParsedToolCall(string Name, string ArgumentsJson, string? Id = null);

/// <summary>Finds tool calls in a finished reply (the format is the model's: the chat template decides it).
/// The seam for the template engine's parser; without one, replies are plain text.</summary>
public interface IToolCallParser
{
    /// <summary>The calls in <paramref name="reply"/> and the text left once they are removed; false when there are none.</summary>
    bool TryParse(string reply, out IReadOnlyList<ParsedToolCall> calls, out string remainingText);
}

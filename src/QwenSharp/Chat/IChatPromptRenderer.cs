using QwenSharp.Models;

namespace QwenSharp.Chat;

/// <summary>Turns a conversation into prompt text for a model. <see cref="ModelTemplateRenderer"/> uses the model's own chat template (the Jinja
/// engine), ChatML when it has none; <see cref="ChatMlPromptRenderer"/> is Qwen1.5's ChatML written out by hand.</summary>
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

/// <summary>Finds tool calls in a finished reply (the format is the model's: the chat template decides it).
/// <see cref="QwenToolCallParser"/> reads Qwen/Hermes-style <c>&lt;tool_call&gt;</c> blocks.</summary>
public interface IToolCallParser
{
    /// <summary>The calls in <paramref name="reply"/> and the text left once they are removed; false when there are none.</summary>
    bool TryParse(string reply, out IReadOnlyList<ToolCall> calls, out string remainingText);

    /// <summary>How much of a partial reply a stream may send as text now: a parser holds back what may be the
    /// start of a call (by default nothing is held back). Streaming passes only the text not sent yet (what was sent
    /// held no call start), so the work per token stays bounded by the held-back text, not the whole reply.</summary>
    int StreamableLength(string partialReply) => partialReply.Length;
}

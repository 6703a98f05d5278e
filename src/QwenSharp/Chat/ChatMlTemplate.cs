using System.Text;

namespace QwenSharp.Chat;

/// <summary>
/// Qwen1.5's ChatML chat template, reproducing the Jinja template in tokenizer_config.json character for
/// character: every message becomes "&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n", a default system message is
/// put in front when the first message is not a system message, and the generation prompt opens an assistant turn.
/// Content is inserted verbatim (the template escapes nothing).
/// The incremental helpers let an interactive chat keep its KV cache and append only the new text each turn:
/// Render(first turn) + reply + RenderFollowUp(next messages) equals Render(whole conversation).
/// </summary>
public static class ChatMlTemplate
{
    public const string DefaultSystemPrompt = "You are a helpful assistant.";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <summary>Opens the assistant turn the model is to write.</summary>
    public const string GenerationPrompt = ImStart + "assistant\n";

    /// <summary>The prompt text for <paramref name="messages"/>. As in the Jinja template, the default system message
    /// is added only in front of a first message that is not "system" (an empty list renders no system message).</summary>
    public static string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        if (messages.Count > 0 && messages[0].Role != "system")
            AppendTurn(sb, "system", DefaultSystemPrompt);
        foreach (ChatMessage message in messages)
            AppendTurn(sb, message);
        if (addGenerationPrompt) sb.Append(GenerationPrompt);
        return sb.ToString();
    }

    /// <summary>One message as the template writes it, including its closing "&lt;|im_end|&gt;\n".</summary>
    public static string RenderTurn(ChatMessage message)
    {
        var sb = new StringBuilder();
        AppendTurn(sb, message);
        return sb.ToString();
    }

    /// <summary>
    /// The text to append to a context that holds a rendered prompt (ending in the generation prompt) followed by
    /// the assistant's reply, so the context then equals the full rendering with <paramref name="newMessages"/> added.
    /// <paramref name="replyEndInContext"/>: whether the reply's closing "&lt;|im_end|&gt;" is already in the context
    /// (generation usually stops on that token without evaluating it, so the default is false).
    /// </summary>
    public static string RenderFollowUp(IReadOnlyList<ChatMessage> newMessages, bool replyEndInContext = false, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(newMessages);
        var sb = new StringBuilder();
        sb.Append(replyEndInContext ? "\n" : ImEnd + "\n");
        foreach (ChatMessage message in newMessages)
            AppendTurn(sb, message);
        if (addGenerationPrompt) sb.Append(GenerationPrompt);
        return sb.ToString();
    }

    private static void AppendTurn(StringBuilder sb, ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(message.Role);
        ArgumentNullException.ThrowIfNull(message.Content);
        AppendTurn(sb, message.Role, message.Content);
    }

    private static void AppendTurn(StringBuilder sb, string role, string content) =>
        sb.Append(ImStart).Append(role).Append('\n').Append(content).Append(ImEnd).Append('\n');
}

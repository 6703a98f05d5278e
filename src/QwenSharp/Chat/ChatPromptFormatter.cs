using System.Text.Json.Nodes;
using QwenSharp.Models;

namespace QwenSharp.Chat;

/// <summary>
/// Turns a conversation into prompt text: with the model's own chat template (GGUF tokenizer.chat_template,
/// rendered as HuggingFace does) when the file has one, else with the built-in ChatML of Qwen1.5
/// (<see cref="ChatMlTemplate"/>, which also puts the default system prompt "You are a helpful assistant." in
/// front of a conversation without a system message, as the Qwen1.5 template itself does).
/// A model template that does not parse is not used: <see cref="FallbackReason"/> says why, and ChatML is used.
/// </summary>
public sealed class ChatPromptFormatter
{
    /// <summary>The model's template; null when ChatML is used.</summary>
    public ChatTemplate? Template { get; }
    public string? BosToken { get; }
    public string? EosToken { get; }

    /// <summary>Why the model's template is not used, when it has one that could not be parsed.</summary>
    public string? FallbackReason { get; }

    public bool UsesModelTemplate => Template is not null;

    public static ChatPromptFormatter ChatMl { get; } = new(null, null, null, null);

    private ChatPromptFormatter(ChatTemplate? template, string? bos, string? eos, string? fallbackReason)
    {
        Template = template;
        BosToken = bos;
        EosToken = eos;
        FallbackReason = fallbackReason;
    }

    /// <summary>A formatter for a template text (throws <see cref="ChatTemplateException"/> if it does not parse).</summary>
    public static ChatPromptFormatter FromTemplate(string source, string? bosToken = null, string? eosToken = null) =>
        new(ChatTemplate.Parse(source), bosToken, eosToken, null);

    public static ChatPromptFormatter ForModel(Qwen2Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.ChatTemplate is null) return ChatMl;
        string? bos = model.Special.Bos is int b ? model.Tokenizer.TokenText(b) : null;
        string? eos = model.Special.Eos is int e ? model.Tokenizer.TokenText(e) : null;
        try
        {
            return new ChatPromptFormatter(ChatTemplate.Parse(model.ChatTemplate), bos, eos, null);
        }
        catch (ChatTemplateException ex)
        {
            return new ChatPromptFormatter(null, bos, eos, "the model's chat template cannot be used (" + ex.Message + "); using ChatML");
        }
    }

    /// <summary>The prompt for <paramref name="messages"/>. Tools and extra variables reach a model template;
    /// the ChatML fallback has no place for tools and ignores them.</summary>
    public string Format(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, IEnumerable<JsonNode>? tools = null,
        IReadOnlyDictionary<string, JsonNode?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (Template is null) return ChatMlTemplate.Render(messages, addGenerationPrompt);
        var input = ChatTemplateInput.FromMessages(messages, tools) with { AddGenerationPrompt = addGenerationPrompt };
        if (variables is not null) input = input with { Variables = variables };
        return Format(input);
    }

    /// <summary>Renders JSON input (e.g. an OpenAI request's messages and tools) with the model's template,
    /// filling in its bos/eos tokens where the input leaves them null. Needs a model template.</summary>
    public string Format(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Template is null)
            throw new QwenSharpException("this model has no usable chat template; JSON input needs one (use Format(messages) for ChatML)");
        return Template.Render(input with { BosToken = input.BosToken ?? BosToken, EosToken = input.EosToken ?? EosToken });
    }
}

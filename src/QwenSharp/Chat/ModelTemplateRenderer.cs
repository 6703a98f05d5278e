using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Models;

namespace QwenSharp.Chat;

/// <summary>Renders with each model's own chat template (<see cref="ChatPromptFormatter.ForModel"/>: the file's
/// Jinja template when it has a usable one, ChatML otherwise), tools included. The parsed template is kept per
/// model, so a server parses it once, not once per request; thread-safe.</summary>
public sealed class ModelTemplateRenderer : IChatPromptRenderer
{
    public static ModelTemplateRenderer Instance { get; } = new();

    // Weak keys: a model that is unloaded and collected takes its parsed template with it.
    private readonly ConditionalWeakTable<Qwen2Model, ChatPromptFormatter> _formatters = new();

    public ChatPromptFormatter FormatterFor(Qwen2Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return _formatters.GetValue(model, ChatPromptFormatter.ForModel);
    }

    /// <exception cref="ChatTemplateException">The template failed while rendering (e.g. its raise_exception
    /// refused the conversation): a problem with the request, not the server.</exception>
    public string Render(Qwen2Model model, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? toolsJson = null) =>
        FormatterFor(model).Format(messages, addGenerationPrompt, ParseTools(toolsJson));

    private static List<JsonNode>? ParseTools(string? toolsJson)
    {
        if (toolsJson is null) return null;
        JsonNode? parsed;
        try
        {
            parsed = JsonNode.Parse(toolsJson);
        }
        catch (JsonException e)
        {
            throw new QwenSharpException("tools: invalid JSON (" + e.Message + ")");
        }
        if (parsed is not JsonArray array) throw new QwenSharpException("tools: expected a JSON array");
        var tools = new List<JsonNode>(array.Count);
        foreach (JsonNode? tool in array)
            tools.Add(tool ?? throw new QwenSharpException("tools: a tool definition is null"));
        return tools;
    }
}

using System.Text.Json;

namespace QwenSharp.Server;

// OpenAI's request bodies (platform.openai.com/docs/api-reference). Unknown fields are ignored.

internal sealed class OpenAiMessage
{
    public string? Role { get; set; }
    /// <summary>A string, or an array of parts of which the "text" ones are used.</summary>
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
    /// <summary>An assistant message's calls.</summary>
    public List<OpenAiToolCall>? ToolCalls { get; set; }
    /// <summary>A "tool" message: the call it answers.</summary>
    public string? ToolCallId { get; set; }
}

internal sealed class OpenAiToolCall
{
    public string? Id { get; set; }
    public string? Type { get; set; }
    public OpenAiFunctionCall? Function { get; set; }
}

internal sealed class OpenAiFunctionCall
{
    public string? Name { get; set; }
    /// <summary>JSON text (as OpenAI sends it); an object is accepted too.</summary>
    public JsonElement? Arguments { get; set; }
}

internal sealed class OpenAiStreamOptions
{
    public bool? IncludeUsage { get; set; }
}

internal class OpenAiSamplingRequest
{
    public string? Model { get; set; }
    public int? MaxTokens { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    /// <summary>Extensions many local servers accept.</summary>
    public int? TopK { get; set; }
    public float? MinP { get; set; }
    public float? RepeatPenalty { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public long? Seed { get; set; }
    public JsonElement? Stop { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public OpenAiStreamOptions? StreamOptions { get; set; }
    /// <summary>Ollama-style extension: a smaller context for this request.</summary>
    public int? NumCtx { get; set; }
    public bool? Truncate { get; set; }
    public string? User { get; set; }

    public SamplingFields Sampling() => new()
    {
        Temperature = Temperature, TopK = TopK, TopP = TopP, MinP = MinP, RepeatPenalty = RepeatPenalty,
        PresencePenalty = PresencePenalty, FrequencyPenalty = FrequencyPenalty, Seed = Seed,
    };
}

internal sealed class OpenAiChatRequest : OpenAiSamplingRequest
{
    public List<OpenAiMessage>? Messages { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public JsonElement? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public JsonElement? ResponseFormat { get; set; }
}

internal sealed class OpenAiCompletionRequest : OpenAiSamplingRequest
{
    /// <summary>A string, an array of strings (only one is supported), or token ids.</summary>
    public JsonElement? Prompt { get; set; }
    /// <summary>Legacy completions: the number of top log-probabilities to return per token.</summary>
    public int? Logprobs { get; set; }
    public bool? Echo { get; set; }
    public string? Suffix { get; set; }
}

internal sealed class OpenAiEmbeddingRequest
{
    public string? Model { get; set; }
    /// <summary>A string, an array of strings, an array of token ids, or an array of such arrays.</summary>
    public JsonElement? Input { get; set; }
    public string? EncodingFormat { get; set; }
    public int? Dimensions { get; set; }
    public string? User { get; set; }
}

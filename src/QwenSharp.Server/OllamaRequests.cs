using System.Text.Json;

namespace QwenSharp.Server;

// Ollama's request bodies (github.com/ollama/ollama docs/api.md). Unknown fields are ignored, as Ollama does.

internal sealed class OllamaOptions
{
    public float? Temperature { get; set; }
    public int? TopK { get; set; }
    public float? TopP { get; set; }
    public float? MinP { get; set; }
    public float? RepeatPenalty { get; set; }
    public int? RepeatLastN { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public long? Seed { get; set; }
    public int? NumPredict { get; set; }
    public int? NumCtx { get; set; }
    public JsonElement? Stop { get; set; }

    public SamplingFields Sampling() => new()
    {
        Temperature = Temperature, TopK = TopK, TopP = TopP, MinP = MinP, RepeatPenalty = RepeatPenalty,
        RepeatLastN = RepeatLastN, PresencePenalty = PresencePenalty, FrequencyPenalty = FrequencyPenalty, Seed = Seed,
    };
}

internal sealed class OllamaGenerateRequest
{
    public string? Model { get; set; }
    public string? Prompt { get; set; }
    public string? Suffix { get; set; }
    public string? System { get; set; }
    public string? Template { get; set; }
    public int[]? Context { get; set; }
    public bool? Stream { get; set; }
    public bool? Raw { get; set; }
    public JsonElement? Format { get; set; }
    public OllamaOptions? Options { get; set; }
    public JsonElement? KeepAlive { get; set; }
    public bool? Truncate { get; set; }
}

internal sealed class OllamaMessage
{
    public string? Role { get; set; }
    public string? Content { get; set; }
    public JsonElement? ToolCalls { get; set; }
    /// <summary>A "tool" message: the tool that answered (Ollama's tool_name; name is accepted too).</summary>
    public string? ToolName { get; set; }
    public string? Name { get; set; }
    public string? ToolCallId { get; set; }
}

internal sealed class OllamaChatRequest
{
    public string? Model { get; set; }
    public List<OllamaMessage>? Messages { get; set; }
    public JsonElement? Tools { get; set; }
    public bool? Stream { get; set; }
    public JsonElement? Format { get; set; }
    public OllamaOptions? Options { get; set; }
    public JsonElement? KeepAlive { get; set; }
    public bool? Truncate { get; set; }
}

internal sealed class OllamaEmbedRequest
{
    public string? Model { get; set; }
    public JsonElement? Input { get; set; }
    /// <summary>The legacy /api/embeddings field.</summary>
    public string? Prompt { get; set; }
    public bool? Truncate { get; set; }
    public OllamaOptions? Options { get; set; }
    public JsonElement? KeepAlive { get; set; }
    public int? Dimensions { get; set; }
}

internal sealed class OllamaShowRequest
{
    public string? Model { get; set; }
    public string? Name { get; set; }
    public bool? Verbose { get; set; }
}

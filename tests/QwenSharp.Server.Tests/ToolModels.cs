using System.Collections.Concurrent;
using System.Text.Json;
using QwenSharp.Chat;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests;
using QwenSharp.Tests.Models;

namespace QwenSharp.Server.Tests;

/// <summary>A second models folder: "tools-chat" carries Qwen's tools-and-thinking Jinja template (read at test time
/// from ../shared/qwen-tokenizer/tokenizer_config.json), "strict-chat" a template that refuses a conversation that
/// does not start with a user or system turn (raise_exception).</summary>
internal static class ToolModels
{
    public const string Tools = "tools-chat";
    public const string Strict = "strict-chat";
    public const string StrictTemplate =
        "{% if messages[0]['role'] not in ['user', 'system'] %}{{ raise_exception('Conversation roles must start with user or system') }}{% endif %}" +
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public static string Template => TemplateSource.Value;
    public static string Dir => Folder.Value;
    public static string PathOf(string name) => System.IO.Path.Combine(Dir, name + ".gguf");

    private static readonly Lazy<string> TemplateSource = new(() =>
    {
        string config = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(TestPaths.SharedTokenizerJson)!, "tokenizer_config.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(config));
        return doc.RootElement.GetProperty("chat_template").GetString()!;
    });

    private static readonly Lazy<string> Folder = new(() =>
    {
        string dir = TestPaths.NewTempDir("serve-tool-models");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 64, FeedForwardSize = 128, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            ContextLength = 4096, InitStd = 0.25f, Seed = 12, WeightType = GgmlType.Q8_0,
        };
        var vocab = RealVocabulary.Get();
        SyntheticQwen2.Write(System.IO.Path.Combine(dir, Tools + ".gguf"), spec with { Name = Tools, ChatTemplate = Template }, vocab);
        SyntheticQwen2.Write(System.IO.Path.Combine(dir, Strict + ".gguf"), spec with { Name = Strict, ChatTemplate = StrictTemplate }, vocab);
        return dir;
    });

    /// <summary>The reply every tool test pretends the model gave (random weights never write a call).</summary>
    public const string CallReply = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    public const string WeatherParameters = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";
}

/// <summary>Reads <see cref="ToolModels.CallReply"/> with the real Qwen parser whatever the model generated, and
/// holds all streamed text back (so a stream's only output is the call).</summary>
internal sealed class ForcedCallParser(string reply) : IToolCallParser
{
    public bool TryParse(string ignoredReply, out IReadOnlyList<ToolCall> calls, out string remainingText) =>
        QwenToolCallParser.Instance.TryParse(reply, out calls, out remainingText);

    public int StreamableLength(string partialReply) => 0;
}

/// <summary>Renders through another renderer and keeps every prompt and tools list it was asked for.</summary>
internal sealed class RecordingRenderer(IChatPromptRenderer inner) : IChatPromptRenderer
{
    public ConcurrentQueue<(string Prompt, string? Tools)> Seen { get; } = new();

    public string Render(Qwen2Model model, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? toolsJson = null)
    {
        string prompt = inner.Render(model, messages, addGenerationPrompt, toolsJson);
        Seen.Enqueue((prompt, toolsJson));
        return prompt;
    }
}

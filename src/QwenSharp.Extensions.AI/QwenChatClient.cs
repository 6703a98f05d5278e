using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using QwenSharp.Chat;
using QwenSharp.Generation;
using QwenSharp.Models;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using QwenMessage = QwenSharp.Chat.ChatMessage;

namespace QwenSharp.Extensions.AI;

/// <summary>An <see cref="IChatClient"/> over a <see cref="BatchScheduler"/>: no HTTP, thread-safe (concurrent calls
/// are batched together by the scheduler), streaming. Prompts are rendered by an <see cref="IChatPromptRenderer"/>
/// (by default the model's own chat template, ChatML when it has none), with ChatOptions.Tools as the tool
/// definitions; replies to requests with tools are read for tool calls (Qwen's &lt;tool_call&gt; blocks by default),
/// which come back as <see cref="FunctionCallContent"/>.</summary>
public sealed class QwenChatClient : IChatClient
{
    private readonly BatchScheduler _scheduler;
    private readonly IChatPromptRenderer _renderer;
    private readonly IToolCallParser _toolCalls;
    private readonly IDisposable? _owned;
    private readonly ChatClientMetadata _metadata;

    /// <param name="scheduler">Shared with other clients if you like; not disposed by this client.</param>
    public QwenChatClient(BatchScheduler scheduler, IChatPromptRenderer? renderer = null, string? modelId = null, IToolCallParser? toolCallParser = null)
        : this(scheduler, renderer, modelId, null, toolCallParser) { }

    private QwenChatClient(BatchScheduler scheduler, IChatPromptRenderer? renderer, string? modelId, IDisposable? owned, IToolCallParser? toolCallParser = null)
    {
        _scheduler = scheduler;
        _renderer = renderer ?? ModelTemplateRenderer.Instance;
        _toolCalls = toolCallParser ?? QwenToolCallParser.Instance;
        _owned = owned;
        _metadata = new ChatClientMetadata("qwensharp", null, modelId ?? scheduler.Model.Name);
    }

    /// <summary>Loads a model file and owns it (and its scheduler): disposing the client frees both.</summary>
    public static QwenChatClient Open(string modelPath, BatchSchedulerOptions? options = null)
    {
        var owner = OwnedScheduler.Open(modelPath, options);
        return new QwenChatClient(owner.Scheduler, null, null, owner);
    }

    public BatchScheduler Scheduler => _scheduler;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (handle, hasTools) = Submit(messages, options, cancellationToken);
        var result = await handle.WaitAsync().ConfigureAwait(false);
        var message = new AiChatMessage(ChatRole.Assistant, result.Text);
        bool calls = false;
        if (hasTools && _toolCalls.TryParse(result.Text, out var parsed, out string rest))
        {
            calls = true;
            var contents = new List<AIContent>();
            if (rest.Length > 0) contents.Add(new TextContent(rest));
            contents.AddRange(parsed.Select(AiToolMapping.Content));
            message = new AiChatMessage(ChatRole.Assistant, contents);
        }
        return new ChatResponse(message)
        {
            ResponseId = Guid.NewGuid().ToString("N"),
            ModelId = _metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = calls ? ChatFinishReason.ToolCalls : Finish(result.Reason),
            Usage = Usage(result),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (handle, hasTools) = Submit(messages, options, cancellationToken);
        string id = Guid.NewGuid().ToString("N");
        // With tools, text that may be a call is held back; the calls come whole at the end.
        var holdBack = hasTools ? new ToolCallHoldBack(_toolCalls) : null;
        try
        {
            await foreach (var piece in handle.Pieces.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                string text = holdBack?.Add(piece.Text) ?? piece.Text;
                if (text.Length == 0) continue;
                yield return new ChatResponseUpdate(ChatRole.Assistant, text) { ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId };
            }
            var result = await handle.Completion.ConfigureAwait(false);
            var last = new List<AIContent>();
            bool calls = false;
            if (holdBack is not null)
            {
                var (held, parsed) = holdBack.Finish();
                if (held.Length > 0) last.Add(new TextContent(held));
                last.AddRange(parsed.Select(AiToolMapping.Content));
                calls = parsed.Count > 0;
            }
            last.Add(new UsageContent(Usage(result)));
            yield return new ChatResponseUpdate(ChatRole.Assistant, last)
            {
                ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId,
                FinishReason = calls ? ChatFinishReason.ToolCalls : Finish(result.Reason),
            };
        }
        finally
        {
            // a consumer that stops reading early frees the slot
            if (!handle.Completion.IsCompleted) handle.Cancel();
        }
    }

    private (ScheduledGeneration Handle, bool HasTools) Submit(IEnumerable<AiChatMessage> messages, ChatOptions? options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var conversation = new List<QwenMessage>();
        if (options?.Instructions is { Length: > 0 } instructions) conversation.Add(QwenMessage.System(instructions));
        foreach (var m in messages) AiToolMapping.Add(conversation, m);
        string? tools = AiToolMapping.ToolsJson(options);
        var model = _scheduler.Model;
        int[] prompt = model.Tokenizer.Encode(_renderer.Render(model, conversation, addGenerationPrompt: true, tools), parseSpecial: true);
        return (_scheduler.Submit(new GenerationRequest(prompt, Options(options)), cancel), tools != null);
    }

    /// <summary>ChatOptions onto the library's sampling, over its llama.cpp-style defaults.</summary>
    internal static GenerationOptions Options(ChatOptions? o)
    {
        var d = new SamplingOptions();
        return new GenerationOptions
        {
            Sampling = d with
            {
                Temperature = o?.Temperature ?? d.Temperature,
                TopP = o?.TopP ?? d.TopP,
                TopK = o?.TopK ?? d.TopK,
                PresencePenalty = o?.PresencePenalty ?? d.PresencePenalty,
                FrequencyPenalty = o?.FrequencyPenalty ?? d.FrequencyPenalty,
                Seed = o?.Seed is long seed ? unchecked((ulong)seed) : null,
            },
            MaxTokens = o?.MaxOutputTokens ?? -1,
            StopStrings = o?.StopSequences is { } stops ? [.. stops] : [],
        };
    }

    private static ChatFinishReason Finish(FinishReason r) => r == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(ScheduledResult r) => new()
    {
        InputTokenCount = r.PromptTokens, OutputTokenCount = r.GeneratedTokens, TotalTokenCount = r.PromptTokens + r.GeneratedTokens,
    };

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType == typeof(BatchScheduler)) return _scheduler;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() => _owned?.Dispose();
}

/// <summary>A model and its scheduler, loaded together and freed together.</summary>
internal sealed class OwnedScheduler : IDisposable
{
    private readonly Qwen2Model _model;
    public BatchScheduler Scheduler { get; }

    private OwnedScheduler(Qwen2Model model, BatchScheduler scheduler)
    {
        _model = model;
        Scheduler = scheduler;
    }

    public static OwnedScheduler Open(string path, BatchSchedulerOptions? options)
    {
        var model = Qwen2Model.Load(path);
        try
        {
            return new OwnedScheduler(model, new BatchScheduler(model, options));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Scheduler.Dispose();
        _model.Dispose();
    }
}

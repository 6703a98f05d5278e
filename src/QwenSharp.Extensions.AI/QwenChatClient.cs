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
/// (ChatML by default).</summary>
public sealed class QwenChatClient : IChatClient
{
    private readonly BatchScheduler _scheduler;
    private readonly IChatPromptRenderer _renderer;
    private readonly IDisposable? _owned;
    private readonly ChatClientMetadata _metadata;

    /// <param name="scheduler">Shared with other clients if you like; not disposed by this client.</param>
    public QwenChatClient(BatchScheduler scheduler, IChatPromptRenderer? renderer = null, string? modelId = null)
        : this(scheduler, renderer, modelId, null) { }

    private QwenChatClient(BatchScheduler scheduler, IChatPromptRenderer? renderer, string? modelId, IDisposable? owned)
    {
        _scheduler = scheduler;
        _renderer = renderer ?? ChatMlPromptRenderer.Instance;
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
        var handle = Submit(messages, options, cancellationToken);
        var result = await handle.WaitAsync().ConfigureAwait(false);
        return new ChatResponse(new AiChatMessage(ChatRole.Assistant, result.Text))
        {
            ResponseId = Guid.NewGuid().ToString("N"),
            ModelId = _metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(result.Reason),
            Usage = Usage(result),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var handle = Submit(messages, options, cancellationToken);
        string id = Guid.NewGuid().ToString("N");
        try
        {
            await foreach (var piece in handle.Pieces.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (piece.Text.Length == 0) continue;
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece.Text) { ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId };
            }
            var result = await handle.Completion.ConfigureAwait(false);
            yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(result))])
            {
                ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId, FinishReason = Finish(result.Reason),
            };
        }
        finally
        {
            // a consumer that stops reading early frees the slot
            if (!handle.Completion.IsCompleted) handle.Cancel();
        }
    }

    private ScheduledGeneration Submit(IEnumerable<AiChatMessage> messages, ChatOptions? options, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var conversation = new List<QwenMessage>();
        if (options?.Instructions is { Length: > 0 } instructions) conversation.Add(QwenMessage.System(instructions));
        foreach (var m in messages) conversation.Add(new QwenMessage(m.Role.Value, m.Text));
        var model = _scheduler.Model;
        int[] prompt = model.Tokenizer.Encode(_renderer.Render(model, conversation, addGenerationPrompt: true), parseSpecial: true);
        return _scheduler.Submit(new GenerationRequest(prompt, Options(options)), cancel);
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

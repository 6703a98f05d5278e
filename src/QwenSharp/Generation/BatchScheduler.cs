using QwenSharp.Models;

namespace QwenSharp.Generation;

/// <summary>
/// Continuous batching over one <see cref="Qwen2Context"/>: up to <see cref="BatchSchedulerOptions.Parallel"/>
/// requests each hold a sequence slot, and every step runs ONE forward pass holding the next token of every
/// generating request plus prompt chunks of the ones that just joined. New requests join between steps; the rest
/// wait in a bounded queue. One background thread drives the steps; <see cref="Submit"/> is thread-safe.
/// Determinism: every request has its own sampler and its logits do not depend on the other rows of the batch
/// (each row's activations are quantized and multiplied on their own), so a seeded request gives the same tokens
/// alone or beside others.
/// </summary>
public sealed partial class BatchScheduler : IDisposable
{
    private readonly Qwen2Context _ctx;
    private readonly BatchSchedulerOptions _options;
    private readonly Slot[] _slots;
    private readonly int _embeddingSequence;
    private readonly Queue<ScheduledGeneration> _queue = new();
    private readonly Queue<EmbeddingJob> _embeddings = new();
    private readonly object _gate = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _thread;
    private readonly BatchEntry[] _batch;
    private readonly Slot[] _outputSlots;
    private volatile bool _stopping;
    private int _occupied;
    private long _stepNumber;

    public BatchScheduler(Qwen2Model model, BatchSchedulerOptions? options = null)
    {
        _options = options ?? new BatchSchedulerOptions();
        _options.Validate();
        Model = model;
        // One extra sequence for embedding requests, so they never disturb a slot's prompt cache.
        _ctx = new Qwen2Context(model, new ContextOptions
        {
            ContextLength = _options.ContextLength, MaxSequences = _options.Parallel + 1, MaxBatch = _options.MaxBatch,
            Threads = _options.Threads, KvCacheType = _options.KvCacheType,
        });
        _embeddingSequence = _options.Parallel;
        _slots = new Slot[_options.Parallel];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(i, _ctx.ContextLength);
        _batch = new BatchEntry[_options.MaxBatch];
        _outputSlots = new Slot[_options.MaxBatch];
        _thread = new Thread(Run) { IsBackground = true, Name = "QwenSharp batch scheduler" };
        _thread.Start();
    }

    public Qwen2Model Model { get; }
    public int ContextLength => _ctx.ContextLength;
    public int Parallel => _options.Parallel;
    public SchedulerMetrics Metrics { get; } = new();

    /// <summary>Queues a request. Throws <see cref="PromptTooLongException"/> (prompt does not fit and truncation
    /// was not asked for), <see cref="SchedulerQueueFullException"/> (every slot busy and the queue full) or
    /// <see cref="QwenSharpException"/> (bad tokens or options) at once; later errors fault the returned handle.</summary>
    public ScheduledGeneration Submit(GenerationRequest request, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_stopping, this);
        ValidateRequest(request);
        var handle = new ScheduledGeneration(request, cancel);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            if (_queue.Count + Volatile.Read(ref _occupied) >= _options.Parallel + _options.MaxQueue)
                throw new SchedulerQueueFullException(_options.MaxQueue);
            _queue.Enqueue(handle);
            Metrics.Submitted();
        }
        _wake.Set();
        return handle;
    }

    private void ValidateRequest(GenerationRequest request)
    {
        if (request.Prompt.Count == 0) throw new QwenSharpException("the prompt is empty");
        int vocab = Model.Config.VocabSize;
        foreach (int t in request.Prompt)
            if ((uint)t >= (uint)vocab) throw new QwenSharpException($"token id {t} is outside the vocabulary (0..{vocab - 1})");
        request.Options.Sampling.Validate();
        int limit = ContextLimit(request);
        if (request.Prompt.Count >= limit && !request.TruncatePrompt)
            throw new PromptTooLongException(request.Prompt.Count, limit);
    }

    /// <summary>The context a request may use: the scheduler's, or less when it asks (num_ctx), at least 2.</summary>
    public int ContextLimit(GenerationRequest request) =>
        request.ContextLimit is int n && n > 1 && n < _ctx.ContextLength ? n : _ctx.ContextLength;

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join();
        _ctx.Dispose();
        _wake.Dispose();
    }

    /// <summary>A sequence slot: the tokens its cache holds (in order), and the request using it, if any.</summary>
    private sealed class Slot(int sequence, int contextLength)
    {
        public readonly int Sequence = sequence;
        public readonly List<int> Cached = new(contextLength);
        public ActiveGeneration? Current;
        public long LastUsedStep;
    }
}

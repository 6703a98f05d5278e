using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Extensions.AI;

/// <summary>An <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a <see cref="BatchScheduler"/>: the mean of
/// the final hidden states, L2-normalised (as Ollama's /api/embed), optionally cut to fewer dimensions and
/// normalised again. Thread-safe.</summary>
public sealed class QwenEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly BatchScheduler _scheduler;
    private readonly EmbeddingPooling _pooling;
    private readonly IDisposable? _owned;
    private readonly EmbeddingGeneratorMetadata _metadata;

    public QwenEmbeddingGenerator(BatchScheduler scheduler, EmbeddingPooling pooling = EmbeddingPooling.Mean, string? modelId = null)
        : this(scheduler, pooling, modelId, null) { }

    private QwenEmbeddingGenerator(BatchScheduler scheduler, EmbeddingPooling pooling, string? modelId, IDisposable? owned)
    {
        _scheduler = scheduler;
        _pooling = pooling;
        _owned = owned;
        _metadata = new EmbeddingGeneratorMetadata("qwensharp", null, modelId ?? scheduler.Model.Name, scheduler.Model.Config.HiddenSize);
    }

    /// <summary>Loads a model file and owns it: disposing the generator frees it.</summary>
    public static QwenEmbeddingGenerator Open(string modelPath, BatchSchedulerOptions? options = null, EmbeddingPooling pooling = EmbeddingPooling.Mean)
    {
        var owner = OwnedScheduler.Open(modelPath, options);
        return new QwenEmbeddingGenerator(owner.Scheduler, pooling, null, owner);
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var tokenizer = _scheduler.Model.Tokenizer;
        var result = new GeneratedEmbeddings<Embedding<float>>();
        long tokens = 0;
        foreach (string value in values)
        {
            var ids = tokenizer.Encode(value.Length == 0 ? " " : value, parseSpecial: false);
            tokens += ids.Length;
            float[] v = await _scheduler.EmbedAsync(ids, _pooling, normalize: true, truncate: true, cancellationToken).ConfigureAwait(false);
            if (options?.Dimensions is int d && d > 0 && d < v.Length)
            {
                v = v[..d];
                float norm = TensorPrimitives.Norm(v);
                if (norm > 0) TensorPrimitives.Divide(v, norm, v);
            }
            result.Add(new Embedding<float>(v) { ModelId = _metadata.DefaultModelId, CreatedAt = DateTimeOffset.UtcNow });
        }
        result.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return result;
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType == typeof(BatchScheduler)) return _scheduler;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() => _owned?.Dispose();
}

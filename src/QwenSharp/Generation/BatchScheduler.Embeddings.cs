using System.Numerics.Tensors;
using QwenSharp.Models;

namespace QwenSharp.Generation;

// Embedding requests run on the scheduler thread too (the context serves one caller at a time), between
// generation steps, on a sequence of their own so no slot's prompt cache is lost.
public sealed partial class BatchScheduler
{
    private sealed record EmbeddingJob(int[] Tokens, EmbeddingPooling Pooling, bool Normalize, CancellationToken Cancel)
    {
        public TaskCompletionSource<float[]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The pooled final hidden state of <paramref name="tokens"/>, L2-normalised when asked (as Ollama's
    /// /api/embed returns it). Throws <see cref="PromptTooLongException"/> when the input does not fit the context
    /// (unless <paramref name="truncate"/>: then only the first ContextLength tokens are embedded).</summary>
    public Task<float[]> EmbedAsync(IReadOnlyList<int> tokens, EmbeddingPooling pooling = EmbeddingPooling.Mean,
        bool normalize = true, bool truncate = false, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ObjectDisposedException.ThrowIf(_stopping, this);
        if (tokens.Count == 0) throw new QwenSharpException("cannot embed an empty input");
        int vocab = Model.Config.VocabSize;
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new QwenSharpException($"token id {t} is outside the vocabulary (0..{vocab - 1})");
        int[] input = [.. tokens];
        if (input.Length > _ctx.ContextLength)
        {
            if (!truncate) throw new PromptTooLongException(input.Length, _ctx.ContextLength);
            input = input[.._ctx.ContextLength];
        }
        var job = new EmbeddingJob(input, pooling, normalize, cancel);
        lock (_gate)
        {
            if (_embeddings.Count >= _options.MaxQueue + _options.Parallel) throw new SchedulerQueueFullException(_options.MaxQueue);
            _embeddings.Enqueue(job);
        }
        _wake.Set();
        return job.Done.Task;
    }

    private void RunEmbeddingJob()
    {
        EmbeddingJob? job;
        lock (_gate) if (!_embeddings.TryDequeue(out job)) return;
        if (job.Cancel.IsCancellationRequested) { job.Done.TrySetCanceled(job.Cancel); return; }
        try
        {
            var vector = new float[Model.Config.HiddenSize];
            _ctx.EmbedSequence(job.Tokens, _embeddingSequence, job.Pooling, vector);
            if (job.Normalize)
            {
                float norm = TensorPrimitives.Norm(vector);
                if (norm > 0f) TensorPrimitives.Divide(vector, norm, vector);
            }
            job.Done.TrySetResult(vector);
        }
        catch (Exception e)
        {
            job.Done.TrySetException(e);
        }
    }
}

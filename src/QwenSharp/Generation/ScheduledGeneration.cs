using System.Threading.Channels;

namespace QwenSharp.Generation;

/// <summary>A request accepted by a <see cref="BatchScheduler"/>: its tokens arrive on <see cref="Pieces"/> as they
/// are generated (the channel completes when generation ends, or faults with the error), and
/// <see cref="Completion"/> gives the summary. A cancelled request completes normally with
/// <see cref="FinishReason.Cancelled"/>.</summary>
public sealed class ScheduledGeneration
{
    private readonly Channel<GeneratedPiece> _pieces =
        Channel.CreateUnbounded<GeneratedPiece>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<ScheduledResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancel;

    internal ScheduledGeneration(GenerationRequest request, CancellationToken cancel)
    {
        Request = request;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancel);
    }

    public GenerationRequest Request { get; }
    public ChannelReader<GeneratedPiece> Pieces => _pieces.Reader;
    public Task<ScheduledResult> Completion => _done.Task;

    /// <summary>Stops generation within one scheduler step and frees the slot.</summary>
    public void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // already finished
        }
    }

    internal bool IsCancelled => _cancel.IsCancellationRequested;
    internal long SubmittedTicks { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
    internal DateTime SubmittedUtc { get; } = DateTime.UtcNow;

    internal void Emit(in GeneratedPiece piece) => _pieces.Writer.TryWrite(piece);

    internal void Finish(ScheduledResult result)
    {
        _pieces.Writer.TryComplete();
        _done.TrySetResult(result);
        _cancel.Dispose();
    }

    internal void Fail(Exception error)
    {
        _pieces.Writer.TryComplete(error);
        _done.TrySetException(error);
        _cancel.Dispose();
    }

    /// <summary>Convenience for callers that want the whole answer: waits for the end and returns the summary.</summary>
    public async Task<ScheduledResult> WaitAsync(Action<GeneratedPiece>? onPiece = null)
    {
        try
        {
            await foreach (var piece in Pieces.ReadAllAsync().ConfigureAwait(false)) onPiece?.Invoke(piece);
        }
        catch (Exception) when (Completion.IsFaulted)
        {
            // the error is rethrown by awaiting Completion below
        }
        return await Completion.ConfigureAwait(false);
    }
}

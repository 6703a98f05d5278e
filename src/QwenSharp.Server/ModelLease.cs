using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using QwenSharp.Generation;

namespace QwenSharp.Server;

/// <summary>One request's use of a model: loads it if needed (timing that as the load duration), and on dispose
/// hands it back with the request's keep_alive.</summary>
internal sealed class ModelLease : IDisposable
{
    private readonly ModelRegistry _registry;
    private readonly TimeSpan? _keepAlive;

    private ModelLease(ModelRegistry registry, LoadedModel model, TimeSpan? keepAlive, long start, TimeSpan load)
    {
        _registry = registry;
        Model = model;
        _keepAlive = keepAlive;
        StartTimestamp = start;
        LoadDuration = load;
    }

    public LoadedModel Model { get; }
    public BatchScheduler Scheduler => Model.Scheduler;
    public long StartTimestamp { get; }
    public TimeSpan LoadDuration { get; }
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(StartTimestamp);

    public static async Task<ModelLease> AcquireAsync(ModelRegistry registry, string? name, TimeSpan? keepAlive)
    {
        long start = Stopwatch.GetTimestamp();
        var model = await registry.AcquireAsync(name);
        return new ModelLease(registry, model, keepAlive, start, Stopwatch.GetElapsedTime(start));
    }

    public void Dispose() => _registry.Release(Model, _keepAlive);

    /// <summary>Feeds the generated pieces to <paramref name="onPieces"/> in groups (whatever arrived together),
    /// then returns the summary. If the client goes away the generation is cancelled and its slot freed.</summary>
    public static async Task<ScheduledResult> PumpAsync(HttpContext http, ScheduledGeneration handle, Func<List<GeneratedPiece>, Task> onPieces)
    {
        var reader = handle.Pieces;
        var group = new List<GeneratedPiece>();
        try
        {
            while (await reader.WaitToReadAsync(http.RequestAborted))
            {
                group.Clear();
                while (reader.TryRead(out var piece)) group.Add(piece);
                if (group.Count > 0) await onPieces(group);
            }
            return await handle.Completion;
        }
        finally
        {
            if (!handle.Completion.IsCompleted) handle.Cancel();
        }
    }

    public static long Nanoseconds(TimeSpan t) => t.Ticks * 100;
}

using System.Diagnostics;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Server;

/// <summary>A model on disk: NAME.gguf or a folder NAME/ in the models directory.</summary>
public sealed record ModelEntry(string Name, string Path, long Size, DateTime ModifiedUtc);

/// <summary>A loaded model with its scheduler. Requests hold a lease while they use it, so keep_alive never unloads
/// a model mid-request.</summary>
public sealed class LoadedModel : IDisposable
{
    private int _leases;
    internal LoadedModel(ModelEntry entry, Qwen2Model model, BatchScheduler scheduler, TimeSpan loadDuration)
    {
        Entry = entry;
        Model = model;
        Scheduler = scheduler;
        LoadDuration = loadDuration;
    }

    public ModelEntry Entry { get; }
    public Qwen2Model Model { get; }
    public BatchScheduler Scheduler { get; }
    public TimeSpan LoadDuration { get; }
    /// <summary>When keep_alive lets it go (MaxValue = never).</summary>
    public DateTime ExpiresUtc { get; internal set; } = DateTime.MaxValue;
    internal int Leases => Volatile.Read(ref _leases);
    internal void Acquire() => Interlocked.Increment(ref _leases);
    internal void Release() => Interlocked.Decrement(ref _leases);

    public void Dispose()
    {
        Scheduler.Dispose();
        Model.Dispose();
    }
}

/// <summary>The models folder: lists what is there, loads a model on first use, unloads it when its keep_alive
/// runs out with no request using it.</summary>
public sealed class ModelRegistry : IDisposable
{
    private readonly ServerOptions _options;
    private readonly Dictionary<string, LoadedModel> _loaded = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Task<LoadedModel>> _loading = new(StringComparer.OrdinalIgnoreCase);
    private readonly object _gate = new();
    private readonly Timer _sweeper;
    private readonly ServerCounters _counters;

    public ModelRegistry(ServerOptions options, ServerCounters counters)
    {
        _options = options;
        _counters = counters;
        _sweeper = new Timer(_ => UnloadExpired(), null, options.KeepAliveCheckInterval, options.KeepAliveCheckInterval);
    }

    /// <summary>Models in the folder, by name.</summary>
    public IReadOnlyList<ModelEntry> List()
    {
        var dir = new DirectoryInfo(_options.ModelsDirectory);
        if (!dir.Exists) return [];
        var result = new List<ModelEntry>();
        foreach (var file in dir.EnumerateFiles("*.gguf"))
            result.Add(new ModelEntry(System.IO.Path.GetFileNameWithoutExtension(file.Name), file.FullName, file.Length, file.LastWriteTimeUtc));
        foreach (var sub in dir.EnumerateDirectories())
        {
            // An HF checkout: config.json beside the weights.
            if (!File.Exists(System.IO.Path.Combine(sub.FullName, "config.json"))) continue;
            long size = sub.EnumerateFiles().Sum(f => f.Length);
            result.Add(new ModelEntry(sub.Name, sub.FullName, size, sub.LastWriteTimeUtc));
        }
        return result.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>"name", "name:latest" -> the entry; Ollama clients add the tag.</summary>
    public ModelEntry Find(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw ApiException.BadRequest("model is required", "model");
        string bare = name.EndsWith(":latest", StringComparison.OrdinalIgnoreCase) ? name[..^":latest".Length] : name;
        return List().FirstOrDefault(e => string.Equals(e.Name, bare, StringComparison.OrdinalIgnoreCase))
            ?? throw ApiException.ModelNotFound(name);
    }

    public IReadOnlyList<LoadedModel> Loaded()
    {
        lock (_gate) return [.. _loaded.Values];
    }

    /// <summary>The loaded model, loading it first if needed, with a lease the caller must Release.</summary>
    public async Task<LoadedModel> AcquireAsync(string? name)
    {
        var entry = Find(name);
        Task<LoadedModel> task;
        lock (_gate)
        {
            if (_loaded.TryGetValue(entry.Name, out var ready))
            {
                ready.Acquire();
                return ready;
            }
            if (!_loading.TryGetValue(entry.Name, out task!))
            {
                task = Task.Run(() => Load(entry));
                _loading[entry.Name] = task;
            }
        }
        LoadedModel loaded;
        try
        {
            loaded = await task.ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _loading.Remove(entry.Name);
        }
        lock (_gate)
        {
            if (!_loaded.TryGetValue(entry.Name, out var existing)) _loaded[entry.Name] = existing = loaded;
            existing.Acquire();
            return existing;
        }
    }

    /// <summary>Ends a request's lease; keep_alive (null = the default) starts counting from now.</summary>
    public void Release(LoadedModel model, TimeSpan? keepAlive)
    {
        var ka = keepAlive ?? _options.DefaultKeepAlive;
        model.ExpiresUtc = ka == Timeout.InfiniteTimeSpan || ka < TimeSpan.Zero ? DateTime.MaxValue : DateTime.UtcNow + ka;
        model.Release();
        if (ka == TimeSpan.Zero) UnloadExpired();
    }

    private LoadedModel Load(ModelEntry entry)
    {
        var clock = Stopwatch.StartNew();
        var model = Qwen2Model.Load(entry.Path, _options.LoadOptions);
        try
        {
            var scheduler = new BatchScheduler(model, new BatchSchedulerOptions
            {
                Parallel = _options.Parallel, MaxQueue = _options.MaxQueue, ContextLength = _options.ContextLength,
                MaxBatch = Math.Max(_options.MaxBatch, _options.Parallel), Threads = _options.Threads, KvCacheType = _options.KvCacheType,
            });
            _counters.ModelLoaded();
            return new LoadedModel(entry, model, scheduler, clock.Elapsed);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Unloads every model whose keep_alive has run out and that nobody is using.</summary>
    public void UnloadExpired()
    {
        var now = DateTime.UtcNow;
        var gone = new List<LoadedModel>();
        lock (_gate)
        {
            foreach (var (name, m) in _loaded.ToArray())
            {
                if (m.Leases > 0 || m.ExpiresUtc > now) continue;
                _counters.Absorb(m.Scheduler.Metrics);
                _loaded.Remove(name);
                gone.Add(m);
            }
        }
        foreach (var m in gone) m.Dispose();
    }

    public void Dispose()
    {
        _sweeper.Dispose();
        List<LoadedModel> all;
        lock (_gate)
        {
            all = [.. _loaded.Values];
            _loaded.Clear();
        }
        foreach (var m in all) m.Dispose();
    }
}

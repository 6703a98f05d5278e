using QwenSharp.Formats;

namespace QwenSharp.Models;

/// <summary>What a model needs in RAM, computed from shapes and tensor types before anything is loaded: the weights
/// (the file's tensor bytes; memory-mapped, so they must fit to run at speed), the KV cache for a context length and
/// cache type, and the activation buffers of one context.</summary>
public sealed record MemoryPlan
{
    public required long ParameterCount { get; init; }
    /// <summary>Parameters one token computes with (MoE: router + chosen experts + shared expert); = ParameterCount for dense.</summary>
    public required long ActiveParameterCount { get; init; }
    public required long WeightBytes { get; init; }
    public required int ContextLength { get; init; }
    public required int Sequences { get; init; }
    public required KvCacheType KvCacheType { get; init; }
    public required long KvCacheBytes { get; init; }
    public required long BufferBytes { get; init; }

    public long ContextBytes => KvCacheBytes + BufferBytes;
    public long TotalBytes => WeightBytes + ContextBytes;

    /// <summary>The plan for a model file or folder: parameters and weight bytes summed over its tensors as stored.</summary>
    public static MemoryPlan ForFile(ITensorSource file, Qwen2Config c, int contextLength, KvCacheType kv, int sequences = 1, int maxBatch = 512)
    {
        long parameters = 0, bytes = 0;
        foreach (var t in file.Tensors)
        {
            parameters += t.ElementCount;
            bytes += t.ByteSize;
        }
        bool tied = file.FindTensor("output.weight") == null;
        return Build(c, parameters, c.ActiveParameterCount(tied), bytes, contextLength, kv, sequences, maxBatch);
    }

    /// <summary>The plan for a config alone (presets): weights at <paramref name="bytesPerParameter"/> each.</summary>
    public static MemoryPlan ForConfig(Qwen2Config c, bool tiedOutput, double bytesPerParameter, int contextLength, KvCacheType kv,
                                       int sequences = 1, int maxBatch = 512)
    {
        long parameters = c.ParameterCount(tiedOutput);
        return Build(c, parameters, c.ActiveParameterCount(tiedOutput), (long)(parameters * bytesPerParameter), contextLength, kv, sequences, maxBatch);
    }

    private static MemoryPlan Build(Qwen2Config c, long parameters, long active, long weightBytes, int contextLength, KvCacheType kv, int sequences, int maxBatch) => new()
    {
        ParameterCount = parameters,
        ActiveParameterCount = active,
        WeightBytes = weightBytes,
        ContextLength = contextLength,
        Sequences = sequences,
        KvCacheType = kv,
        KvCacheBytes = KvCache.BytesFor(c.LayerCount, sequences, contextLength, c.KvDim, kv),
        BufferBytes = BufferBytesFor(c, contextLength, maxBatch),
    };

    /// <summary>Pool threads the per-thread rows are counted for: the plan is made before a context picks its thread
    /// count, and a row per thread is small (8 KiB at 0.5B, 64 KiB at 72B), so a generous count keeps the estimate
    /// an upper one on any machine this runs on.</summary>
    private const long PlannedThreads = 64;

    /// <summary>Activation buffers of one context (Qwen2Context's fp32 rows for a chunk, its quantized-input buffers,
    /// one logits row, attention scores and input rows per thread; MoE: the expert-grouped rows) — an upper estimate.</summary>
    public static long BufferBytesFor(Qwen2Config c, int contextLength, int maxBatch)
    {
        long b = maxBatch, h = c.HiddenSize, f = c.FeedForwardSize, kv = c.KvDim;
        long floats = b * (4 * h + 2 * kv + 2 * f + c.HeadDim) + (b + 1) * Math.Max(h, f) + c.VocabSize + 64L * contextLength
                      + PlannedThreads * (2 * h + 64);   // each decode thread's own input row (ThreadInputs)
        if (c.Moe is { } m)
        {
            long bk = b * m.ExpertUsedCount;
            floats += 7 * b * h + 2 * bk * h + 2 * bk * m.ExpertFeedForwardSize + bk * (m.ExpertFeedForwardSize + h)
                      + 3 * b * m.SharedFeedForwardSize + b * m.ExpertCount;
        }
        return floats * sizeof(float);
    }

    /// <summary>Human-readable byte count (binary units).</summary>
    public static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : bytes >= 1L << 20 ? $"{bytes / (double)(1L << 20):F1} MiB" : $"{bytes / 1024.0:F1} KiB";

    /// <summary>Parameter count as the model cards write it (0.46B, 7.72B, 111B).</summary>
    public static string FormatCount(long n) => n >= 100_000_000_000 ? $"{n / 1e9:F0}B" : n >= 1_000_000_000 ? $"{n / 1e9:F2}B" : n >= 1_000_000 ? $"{n / 1e6:F2}M" : $"{n / 1e3:F1}K";
}

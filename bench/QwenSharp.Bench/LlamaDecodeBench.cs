using System.Diagnostics;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;
using QwenSharp.Tests.Oracle;

namespace QwenSharp.Bench;

/// <summary>The same two tests as QwenDecodeBench, on llama.cpp: pp = the prompt in one llama_decode per 512 tokens
/// on a cleared KV cache, logits for the last token only; tg = tokens decoded one at a time from a cleared cache,
/// each the argmax of the previous logits. Reading the logits inside the timed region waits for the computation.</summary>
internal sealed class LlamaDecodeBench : IDisposable
{
    /// <summary>n_batch = n_ubatch = 512, as QwenSharp's MaxBatch.</summary>
    public const int Batch = 512;

    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly List<LLamaBatch> _promptChunks = [];
    private readonly LLamaBatch _step = new();
    private readonly int _firstToken;

    public LlamaDecodeBench(string path, int threads, int contextLength, bool flashAttention, int[] promptTokens)
    {
        LlamaCppNative.Initialize();
        var p = new ModelParams(path)
        {
            ContextSize = (uint)contextLength, // llama-bench: n_prompt + n_gen
            BatchSize = Batch,
            UBatchSize = Batch,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            TypeK = GGMLType.GGML_TYPE_F16,
            TypeV = GGMLType.GGML_TYPE_F16,
            FlashAttention = flashAttention,
            LoadMode = LLamaLoadMode.MemoryMap, // as QwenSharp (llama.cpp may still repack some types into its own buffers)
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        for (int start = 0; start < promptTokens.Length; start += Batch)
        {
            var chunk = new LLamaBatch();
            int end = Math.Min(promptTokens.Length, start + Batch);
            for (int i = start; i < end; i++) chunk.Add(promptTokens[i], i, LLamaSeqId.Zero, i == promptTokens.Length - 1);
            _promptChunks.Add(chunk);
        }
        _firstToken = promptTokens[0];
    }

    public double Prompt()
    {
        _context.NativeHandle.MemoryClear(false);
        long start = Stopwatch.GetTimestamp();
        foreach (var chunk in _promptChunks) Decode(chunk);
        var last = _promptChunks[^1];
        _ = _context.NativeHandle.GetLogitsIth(last.TokenCount - 1)[0];
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public double Generate(int count)
    {
        _context.NativeHandle.MemoryClear(false);
        int token = _firstToken;
        long start = Stopwatch.GetTimestamp();
        for (int pos = 0; pos < count; pos++)
        {
            _step.Clear();
            _step.Add(token, pos, LLamaSeqId.Zero, true);
            Decode(_step);
            token = TensorPrimitives.IndexOfMax(_context.NativeHandle.GetLogitsIth(0));
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    private void Decode(LLamaBatch batch)
    {
        DecodeResult r = _context.NativeHandle.Decode(batch);
        if (r != DecodeResult.Ok) throw new QwenSharpException($"llama_decode returned {r}: {LlamaCppNative.RecentLog(5)}");
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}

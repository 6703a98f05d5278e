using System.Diagnostics;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;
using QwenSharp.Tests.Oracle;

namespace QwenSharp.Bench;

/// <summary>The same two tests as QwenDecodeBench, on llama.cpp: pp = the prompt in one llama_decode per 512 tokens,
/// logits for the last token only; tg = tokens decoded one at a time, each the argmax of the previous logits. Both
/// start from a cache that holds only the depth's tokens (decoded once, untimed; each test removes the positions
/// past them, as llama-bench's -d). Reading the logits inside the timed region waits for the computation.</summary>
internal sealed class LlamaDecodeBench : IDisposable
{
    /// <summary>n_batch = n_ubatch = 512, as QwenSharp's MaxBatch.</summary>
    public const int Batch = 512;

    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly List<LLamaBatch> _promptChunks = [];
    private readonly int _depth;
    private readonly LLamaBatch _step = new();
    private readonly int _firstToken;

    public LlamaDecodeBench(string path, int threads, int contextLength, bool flashAttention, int[] promptTokens, int[]? depthTokens = null)
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
        depthTokens ??= [];
        _depth = depthTokens.Length;
        _promptChunks.AddRange(Chunks(promptTokens, _depth, wantLast: true));
        _firstToken = promptTokens[0];
        _context.NativeHandle.MemoryClear(false);
        foreach (var chunk in Chunks(depthTokens, 0, wantLast: false)) Decode(chunk);
    }

    /// <summary>tokens at positions first.. in batches of <see cref="Batch"/>; logits for the last one if wantLast.</summary>
    private static IEnumerable<LLamaBatch> Chunks(int[] tokens, int first, bool wantLast)
    {
        for (int start = 0; start < tokens.Length; start += Batch)
        {
            var chunk = new LLamaBatch();
            int end = Math.Min(tokens.Length, start + Batch);
            for (int i = start; i < end; i++) chunk.Add(tokens[i], first + i, LLamaSeqId.Zero, wantLast && i == tokens.Length - 1);
            yield return chunk;
        }
    }

    /// <summary>The cache back to the depth's tokens: later positions removed.</summary>
    private void CutToDepth()
    {
        if (_depth == 0)
        {
            _context.NativeHandle.MemoryClear(false);
            return;
        }
        _context.NativeHandle.MemorySequenceRemove(LLamaSeqId.Zero, _depth, -1);   // p1 < 0: to the end
        int last = _context.NativeHandle.MemorySequenceMaxPosition(LLamaSeqId.Zero).Value;
        if (last != _depth - 1)
            throw new QwenSharpException($"llama.cpp's cache ends at position {last} after cutting it back to {_depth} tokens");
    }

    public double Prompt()
    {
        CutToDepth();
        long start = Stopwatch.GetTimestamp();
        foreach (var chunk in _promptChunks) Decode(chunk);
        var last = _promptChunks[^1];
        _ = _context.NativeHandle.GetLogitsIth(last.TokenCount - 1)[0];
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public double Generate(int count)
    {
        CutToDepth();
        int token = _firstToken;
        long start = Stopwatch.GetTimestamp();
        for (int pos = _depth; pos < _depth + count; pos++)
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

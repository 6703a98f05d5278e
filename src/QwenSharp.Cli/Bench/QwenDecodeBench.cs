using System.Diagnostics;
using System.Numerics.Tensors;
using QwenSharp.Models;

namespace QwenSharp.Cli.Bench;

/// <summary>The two llama-bench tests on a QwenSharp context. pp: a prompt of P tokens in one Decode call
/// (logits for the last token only). tg: N tokens decoded one call at a time, each fed the argmax of the previous
/// step's logits. Both start from a cache that holds only the depth's tokens (none by default; llama-bench's
/// -d: how fast the tests run deep into a conversation, where attention reads a long cache). The depth is decoded
/// once, untimed, and every test cuts the cache back to it. Both time only the Decode calls' work; the batches
/// are built before the clock starts.</summary>
internal sealed class QwenDecodeBench : IDisposable
{
    private readonly Qwen2Context _ctx;
    private readonly BatchEntry[] _prompt;
    private readonly BatchEntry[] _depth;
    private readonly BatchEntry[] _step = new BatchEntry[1];
    private readonly int _firstToken;

    /// <param name="depth">Tokens (<see cref="DepthTokens"/>) the cache holds before each test; the context must
    /// have room for them and for the longer test.</param>
    public QwenDecodeBench(Qwen2Model model, ContextOptions options, int[] promptTokens, int depth = 0)
    {
        if (promptTokens.Length == 0) throw new ArgumentException("empty prompt", nameof(promptTokens));
        ArgumentOutOfRangeException.ThrowIfNegative(depth);
        _ctx = new Qwen2Context(model, options);   // first: it checks that the context fits in memory
        int[] depthTokens = DepthTokens(depth, model.Config.VocabSize);
        _depth = new BatchEntry[depth];
        for (int i = 0; i < depth; i++) _depth[i] = new BatchEntry(depthTokens[i], i, 0, false);
        _prompt = new BatchEntry[promptTokens.Length];
        for (int i = 0; i < promptTokens.Length; i++) _prompt[i] = new BatchEntry(promptTokens[i], depth + i, 0, i == promptTokens.Length - 1);
        _firstToken = promptTokens[0];
        try
        {
            if (depth > 0) _ctx.Decode(_depth);   // Decode splits it into batches of the context's MaxBatch
        }
        catch
        {
            _ctx.Dispose();   // its pool's threads
            throw;
        }
    }

    public int ThreadCount => _ctx.Pool.ThreadCount;

    /// <summary>Tokens in the cache when each test starts.</summary>
    public int Depth => _depth.Length;

    /// <summary>Tokens in the cache now.</summary>
    internal int CachedTokens => _ctx.Cache.Length(0);

    /// <summary>Seconds to process the prompt on a cache cut back to the depth.</summary>
    public double Prompt()
    {
        _ctx.Cache.Truncate(0, Depth);
        long start = Stopwatch.GetTimestamp();
        _ctx.Decode(_prompt);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Seconds to generate <paramref name="count"/> tokens greedily on a cache cut back to the depth.</summary>
    public double Generate(int count)
    {
        _ctx.Cache.Truncate(0, Depth);
        int token = _firstToken;
        long start = Stopwatch.GetTimestamp();
        for (int pos = Depth; pos < Depth + count; pos++)
        {
            _step[0] = new BatchEntry(token, pos, 0, true);
            _ctx.Decode(_step);
            token = TensorPrimitives.IndexOfMax(_ctx.Logits(0));
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>The context both tests need, as llama-bench sizes it: n_depth + n_prompt + n_gen; a sum past the
    /// largest context is a <see cref="QwenSharpException"/> naming the options.</summary>
    public static int ContextLength(int depth, int promptTokens, int genTokens) =>
        (long)depth + promptTokens + genTokens is var n && n <= int.MaxValue ? (int)n
            : throw new QwenSharpException($"-d + -p + -n is {(long)depth + promptTokens + genTokens} tokens, more than a context can hold ({int.MaxValue})");

    /// <summary>llama-bench's test name: "pp512" or "tg128", with " @ d2048" at a depth.</summary>
    public static string TestName(string test, int tokens, int depth) => depth > 0 ? $"{test}{tokens} @ d{depth}" : $"{test}{tokens}";

    /// <summary>The depth's tokens: <see cref="PromptTokens"/> with a seed of their own.</summary>
    public static int[] DepthTokens(int count, int vocabSize) => PromptTokens(count, vocabSize, seed: 4321);

    /// <summary>Reproducible pseudo-random token ids below <paramref name="vocabSize"/>, as llama-bench feeds random
    /// tokens (the speed of a dense model does not depend on which tokens they are).</summary>
    public static int[] PromptTokens(int count, int vocabSize, int seed = 1234)
    {
        var rng = new Random(seed);
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = rng.Next(vocabSize);
        return tokens;
    }

    public void Dispose() => _ctx.Dispose();
}

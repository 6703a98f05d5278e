using System.Diagnostics;
using System.Numerics.Tensors;
using QwenSharp.Models;

namespace QwenSharp.Cli.Bench;

/// <summary>The two llama-bench tests on a QwenSharp context. pp: a prompt of P tokens in one Decode call
/// (logits for the last token only) on an empty cache. tg: N tokens decoded one call at a time from an empty
/// cache, each fed the argmax of the previous step's logits. Both time only the Decode calls' work; the batches
/// are built before the clock starts.</summary>
internal sealed class QwenDecodeBench : IDisposable
{
    private readonly Qwen2Context _ctx;
    private readonly BatchEntry[] _prompt;
    private readonly BatchEntry[] _step = new BatchEntry[1];
    private readonly int _firstToken;

    public QwenDecodeBench(Qwen2Model model, ContextOptions options, int[] promptTokens)
    {
        if (promptTokens.Length == 0) throw new ArgumentException("empty prompt", nameof(promptTokens));
        _ctx = new Qwen2Context(model, options);
        _prompt = new BatchEntry[promptTokens.Length];
        for (int i = 0; i < promptTokens.Length; i++) _prompt[i] = new BatchEntry(promptTokens[i], i, 0, i == promptTokens.Length - 1);
        _firstToken = promptTokens[0];
    }

    public int ThreadCount => _ctx.Pool.ThreadCount;

    /// <summary>Seconds to process the prompt on a fresh cache.</summary>
    public double Prompt()
    {
        _ctx.Cache.Clear(0);
        long start = Stopwatch.GetTimestamp();
        _ctx.Decode(_prompt);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Seconds to generate <paramref name="count"/> tokens greedily on a fresh cache.</summary>
    public double Generate(int count)
    {
        _ctx.Cache.Clear(0);
        int token = _firstToken;
        long start = Stopwatch.GetTimestamp();
        for (int pos = 0; pos < count; pos++)
        {
            _step[0] = new BatchEntry(token, pos, 0, true);
            _ctx.Decode(_step);
            token = TensorPrimitives.IndexOfMax(_ctx.Logits(0));
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

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

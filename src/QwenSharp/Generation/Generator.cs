using System.Diagnostics;
using QwenSharp.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Generation;

/// <summary>What to generate and when to stop.</summary>
public sealed record GenerationOptions
{
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Most tokens to generate; negative = until a stop or the context is full.</summary>
    public int MaxTokens { get; init; } = -1;
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop on the model's end tokens (&lt;|im_end|&gt;, &lt;|endoftext|&gt;, eos).</summary>
    public bool StopOnEndTokens { get; init; } = true;
}

public sealed record GenerationResult(
    int PromptTokens, int ReusedPromptTokens, IReadOnlyList<int> Tokens, string Text, FinishReason Reason,
    int? StopToken, TimeSpan PromptDuration, TimeSpan GenerationDuration);

/// <summary>Generates text on one sequence of a context and remembers which tokens that sequence's KV cache holds,
/// so that a prompt sharing a prefix with them (the earlier turns of a chat) is not processed again.</summary>
public sealed class Generator
{
    private readonly Qwen2Context _ctx;
    private readonly int _sequence;
    private readonly List<int> _history;       // tokens whose keys/values are in the cache, in order
    private readonly List<int> _penaltyWindow; // history + generated, what the penalties look at
    private readonly BatchEntry[] _one = new BatchEntry[1];
    private BatchEntry[] _prompt = [];
    private int? _undecoded;

    public Generator(Qwen2Context context, int sequence = 0)
    {
        _ctx = context;
        _sequence = sequence;
        _history = new List<int>(context.ContextLength);
        _penaltyWindow = new List<int>(context.ContextLength + 1);
        _ctx.Cache.Clear(sequence);
    }

    public Qwen2Model Model => _ctx.Model;
    /// <summary>Tokens whose keys and values are in the cache.</summary>
    public IReadOnlyList<int> CachedTokens => _history;

    /// <summary>The sequence so far: the cached tokens plus the last generated token when generation ended on it
    /// without running it through the model. A prompt that continues this transcript reuses the whole cache.</summary>
    public IReadOnlyList<int> Transcript => _undecoded is int t ? [.. _history, t] : _history;

    /// <summary>Forget the conversation: the next prompt is processed from scratch.</summary>
    public void Reset()
    {
        _history.Clear();
        _undecoded = null;
        _ctx.Cache.Clear(_sequence);
    }

    /// <summary>Processes <paramref name="prompt"/> (the whole prompt: its longest prefix already in the cache is
    /// reused) and then samples tokens until a stop rule fires. Text is streamed through <paramref name="onText"/>
    /// in whole UTF-8 characters, never including a stop string.</summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<string>? onText = null,
        CancellationToken cancel = default)
    {
        if (prompt.Count == 0) throw new QwenSharpException("the prompt is empty");
        if (prompt.Count >= _ctx.ContextLength)
            throw new QwenSharpException($"the prompt has {prompt.Count} tokens but the context holds {_ctx.ContextLength}; raise --ctx or shorten the prompt");

        var clock = Stopwatch.StartNew();
        _undecoded = null;
        int reused = ReusePrefix(prompt);
        DecodePrompt(prompt, reused);
        var promptTime = clock.Elapsed;

        var special = _ctx.Model.Special;
        var sampler = new Sampler(_ctx.Model.Config.VocabSize, options.Sampling);
        var decoder = _ctx.Model.Tokenizer.CreateStreamingDecoder();
        var stops = new StopDetector(options.StopStrings);
        var text = new System.Text.StringBuilder();
        var generated = new List<int>();
        _penaltyWindow.Clear();
        _penaltyWindow.AddRange(_history);
        var logits = new float[_ctx.Model.Config.VocabSize];
        FinishReason reason = FinishReason.Length;
        int? stopToken = null;

        _undecoded = null;
        while (true)
        {
            if (cancel.IsCancellationRequested) { reason = FinishReason.Cancelled; break; }
            if (options.MaxTokens >= 0 && generated.Count >= options.MaxTokens) { reason = FinishReason.Length; break; }
            _ctx.Logits(0).CopyTo(logits);
            int token = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_penaltyWindow));
            if (options.StopOnEndTokens && special.IsStop(token)) { reason = FinishReason.Stop; stopToken = token; break; }
            generated.Add(token);
            _penaltyWindow.Add(token);
            var (emit, stopped) = stops.Push(decoder.Push(token));
            if (emit.Length > 0) { text.Append(emit); onText?.Invoke(emit); }
            // A token that ends generation is part of the transcript but is not run through the model: nothing
            // needs its logits. The next prompt that continues this transcript decodes it first.
            bool last = stopped || generated.Count == options.MaxTokens || _history.Count >= _ctx.ContextLength;
            if (last)
            {
                reason = stopped ? FinishReason.Stop : FinishReason.Length;
                _undecoded = token;
                break;
            }
            _one[0] = new BatchEntry(token, _history.Count, _sequence, WantLogits: true);
            _ctx.Decode(_one);
            _history.Add(token);
        }
        if (reason != FinishReason.Stop || stopToken != null)
        {
            string tail = stops.Push(decoder.Flush()).emit + stops.Flush();
            if (tail.Length > 0) { text.Append(tail); onText?.Invoke(tail); }
        }
        return new GenerationResult(prompt.Count, reused, generated, text.ToString(), reason, stopToken,
            promptTime, clock.Elapsed - promptTime);
    }

    /// <summary>Keeps the longest cached prefix of the prompt, but always leaves at least one prompt token to
    /// decode (its logits start the answer).</summary>
    private int ReusePrefix(IReadOnlyList<int> prompt)
    {
        int common = 0, max = Math.Min(_history.Count, prompt.Count - 1);
        while (common < max && _history[common] == prompt[common]) common++;
        _history.RemoveRange(common, _history.Count - common);
        _ctx.Cache.Truncate(_sequence, common);
        return common;
    }

    private void DecodePrompt(IReadOnlyList<int> prompt, int from)
    {
        int n = prompt.Count - from;
        if (_prompt.Length < n) _prompt = new BatchEntry[Math.Max(n, 64)];
        for (int i = 0; i < n; i++)
            _prompt[i] = new BatchEntry(prompt[from + i], from + i, _sequence, WantLogits: i == n - 1);
        _ctx.Decode(_prompt.AsSpan(0, n));
        for (int i = from; i < prompt.Count; i++) _history.Add(prompt[i]);
    }
}

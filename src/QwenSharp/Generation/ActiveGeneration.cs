using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using QwenSharp.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Generation;

/// <summary>The per-request state while a request holds a scheduler slot: its prompt (after truncation), how far
/// the prompt has been fed, its own sampler (so its random draws never depend on other requests), streaming
/// decoder, stop detector and penalty window. Touched only by the scheduler thread.</summary>
internal sealed class ActiveGeneration
{
    public readonly ScheduledGeneration Handle;
    public readonly int[] Prompt;
    public readonly int TruncatedTokens;
    public readonly int ContextLimit;
    public int Reused;
    public int Fed;                 // prompt tokens whose keys/values are in the cache
    public int LastToken = -1;      // sampled, not yet decoded
    public int Generated;
    public long AdmittedTicks, FirstTokenTicks;

    private readonly Qwen2Model _model;
    private readonly Sampler _sampler;
    private readonly StreamingDecoder _decoder;
    private readonly StopDetector _stops;
    private readonly StringBuilder _text = new();
    private readonly List<int> _window;
    private readonly float[] _logits;
    private int[] _topIds = [];
    private float[] _topValues = [];

    public ActiveGeneration(ScheduledGeneration handle, int[] prompt, int truncated, int contextLimit, Qwen2Model model)
    {
        Handle = handle;
        Prompt = prompt;
        TruncatedTokens = truncated;
        ContextLimit = contextLimit;
        _model = model;
        var options = handle.Request.Options;
        _sampler = new Sampler(model.Config.VocabSize, options.Sampling);
        _decoder = model.Tokenizer.CreateStreamingDecoder();
        _stops = new StopDetector(options.StopStrings);
        _window = new List<int>(contextLimit + 1);
        _window.AddRange(prompt);
        _logits = new float[model.Config.VocabSize];
    }

    public bool Prefilling => Fed < Prompt.Length;
    public GenerationOptions Options => Handle.Request.Options;

    /// <summary>Samples the next token from this request's logits. Returns the finish reason when generation ends
    /// here, null to go on (then <see cref="LastToken"/> is the token to decode next). <paramref name="cachedLength"/>
    /// is how many positions the slot's cache holds.</summary>
    public FinishReason? Step(ReadOnlySpan<float> logits, int cachedLength, out int? stopToken)
    {
        stopToken = null;
        if (Options.MaxTokens == 0) return FinishReason.Length; // the prompt is processed (and cached), nothing sampled
        if (Generated == 0) FirstTokenTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        logits.CopyTo(_logits);
        int wantTop = Handle.Request.TopLogprobs;
        float logZ = wantTop >= 0 ? LogSumExp(_logits) : 0f;
        // Alternatives are ranked on the copy before the sampler changes it in place; the chosen token's logprob
        // reads the caller's untouched logits.
        TokenLogprob[]? top = wantTop > 0 ? TopCandidates(_logits, wantTop, logZ) : null;
        int token = _sampler.Sample(_logits, CollectionsMarshal.AsSpan(_window));
        float chosenLogit = wantTop >= 0 ? logits[token] - logZ : 0f;

        if (Options.StopOnEndTokens && _model.Special.IsStop(token)) { stopToken = token; return FinishReason.Stop; }
        Generated++;
        _window.Add(token);
        var (emit, stopped) = _stops.Push(_decoder.Push(token));
        _text.Append(emit);
        Handle.Emit(new GeneratedPiece(token, emit, chosenLogit, top));
        if (stopped) return FinishReason.Stop;
        if (Options.MaxTokens >= 0 && Generated >= Options.MaxTokens) return FinishReason.Length;
        if (cachedLength + 1 >= ContextLimit) return FinishReason.Length; // no position left to decode it into
        LastToken = token;
        return null;
    }

    /// <summary>Ends the text: releases what the decoder and stop detector still hold (nothing after a stop string).</summary>
    public string Flush(FinishReason reason, int? stopToken)
    {
        if (reason == FinishReason.Stop && stopToken is null) return _text.ToString();
        string tail = _stops.Push(_decoder.Flush()).emit + _stops.Flush();
        if (tail.Length > 0)
        {
            _text.Append(tail);
            Handle.Emit(new GeneratedPiece(-1, tail, 0f, null));
        }
        return _text.ToString();
    }

    private static float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return max + (float)Math.Log(sum);
    }

    /// <summary>The N most likely tokens by raw logit (N is small: a selection pass per slot is enough).</summary>
    private TokenLogprob[] TopCandidates(ReadOnlySpan<float> logits, int n, float logZ)
    {
        n = Math.Min(n, logits.Length);
        // The ranking buffers are reused from token to token; only the reported array is new.
        if (_topIds.Length < n) { _topIds = new int[n]; _topValues = new float[n]; }
        Span<int> ids = _topIds.AsSpan(0, n);
        Span<float> values = _topValues.AsSpan(0, n);
        int count = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float l = logits[id];
            if (count == n && !(l > values[n - 1])) continue;
            int at = count < n ? count++ : n - 1;
            while (at > 0 && values[at - 1] < l) { values[at] = values[at - 1]; ids[at] = ids[at - 1]; at--; }
            values[at] = l;
            ids[at] = id;
        }
        var result = new TokenLogprob[count];
        for (int i = 0; i < count; i++) result[i] = new TokenLogprob(ids[i], _model.Tokenizer.Decode([ids[i]]), values[i] - logZ);
        return result;
    }
}

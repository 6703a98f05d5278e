using System.Numerics.Tensors;

namespace QwenSharp.Generation;

/// <summary>
/// Chooses the next token from a logits vector, llama.cpp-style: penalties, then top-k, top-p, min-p,
/// temperature, softmax and a seeded draw. One instance per sequence: it owns the random state and
/// vocabulary-sized scratch buffers allocated once, so <see cref="Sample"/> allocates nothing.
/// </summary>
public sealed class Sampler
{
    /// <summary>Mass histogram for top-p with top-k off: 8 bands per unit of logit cover 32 logits below the maximum
    /// (exp(-32) ~ 1e-14, beyond any top-p setting's reach); everything lower shares the last band.</summary>
    private const float BandsPerLogit = 8f;
    private const int NucleusBands = 256;

    private readonly SamplingOptions _options;
    private readonly int _vocabSize;
    private readonly ulong[] _keys;      // ranked candidates (see CandidateKeys), first _count valid
    private readonly float[] _weights;   // vocabulary-sized scratch: exp values, then the candidates' final weights
    private readonly int[] _counts;      // penalty scratch, kept all zero between calls
    private readonly double[] _bandMass = new double[NucleusBands];
    private Xoshiro256StarStar _rng;
    private int _count;
    private double _total;

    public Sampler(int vocabSize, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (vocabSize <= 0) throw new QwenSharpException($"vocabulary size must be positive, got {vocabSize}");
        options.Validate();
        _options = options;
        _vocabSize = vocabSize;
        _keys = new ulong[vocabSize];
        _weights = new float[vocabSize];
        _counts = new int[vocabSize];
        _rng = new Xoshiro256StarStar(options.Seed ?? (ulong)Random.Shared.NextInt64());
    }

    public SamplingOptions Options => _options;

    /// <summary>Picks a token id. <paramref name="logits"/> (one per vocabulary entry) is modified in place
    /// (penalties applied, NaN replaced by -infinity). <paramref name="history"/> is the sequence so far
    /// (prompt and generated tokens), used only by the penalties.</summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.Length != _vocabSize)
            throw new QwenSharpException($"sampler expects {_vocabSize} logits, got {logits.Length}");
        TokenPenalties.Apply(logits, history, _options, _counts);

        float max = MaxLogit(logits);
        if (_options.Temperature <= 0f || float.IsPositiveInfinity(max))
            return TensorPrimitives.IndexOfMax((ReadOnlySpan<float>)logits);   // the first (lowest) id among equal maxima

        PrepareCandidates(logits, max);
        return Draw(_rng.NextDouble());
    }

    /// <summary>The largest logit; NaNs are turned into -infinity first so no later stage sees them.</summary>
    private static float MaxLogit(Span<float> logits)
    {
        float max = TensorPrimitives.Max((ReadOnlySpan<float>)logits);
        if (float.IsNaN(max))
        {
            foreach (ref float l in logits)
                if (float.IsNaN(l)) l = float.NegativeInfinity;
            max = TensorPrimitives.Max((ReadOnlySpan<float>)logits);
        }
        if (max == float.NegativeInfinity)
            throw new QwenSharpException("cannot sample: every logit is NaN or -infinity");
        return max;
    }

    /// <summary>Runs top-k, top-p and min-p and leaves the survivors in _keys[.._count] with their
    /// temperature-scaled, unnormalised probabilities in _weights[.._count] (sum in _total).</summary>
    internal void PrepareCandidates(ReadOnlySpan<float> logits, float max)
    {
        // min-p keeps p >= minP * pMax, i.e. logit >= max + ln(minP); computed at temperature 1 as in llama.cpp.
        float minPFloor = _options.MinP > 0f ? max + MathF.Log(_options.MinP) : float.NegativeInfinity;
        bool topKOn = _options.TopK > 0 && _options.TopK < _vocabSize;
        bool topPOn = _options.TopP < 1f;

        if (topKOn)
        {
            _count = CandidateKeys.SelectTopK(logits, _options.TopK, _keys);
            if (topPOn) _count = NucleusWithinTopK(logits, max);
            _count = CutBelow(logits, minPFloor);
        }
        else if (topPOn)
        {
            _count = NucleusOverVocabulary(logits, max, minPFloor);
        }
        else
        {
            // No ranking stage: every token above the min-p floor is a candidate, in id order.
            int n = 0;
            for (int id = 0; id < logits.Length; id++)
                if (logits[id] >= minPFloor && logits[id] != float.NegativeInfinity) _keys[n++] = CandidateKeys.Make(logits[id], id);
            _count = n;
        }

        // Temperature last, as in llama.cpp's default chain; the global max always survives every cut.
        float invTemp = 1f / _options.Temperature;
        double total = 0;
        for (int i = 0; i < _count; i++)
        {
            float w = MathF.Exp((logits[CandidateKeys.Id(_keys[i])] - max) * invTemp);
            _weights[i] = w;
            total += w;
        }
        _total = total;
    }

    /// <summary>Top-p over the (sorted) top-k survivors, their probabilities renormalised among themselves.
    /// Keeps the smallest prefix whose mass reaches TopP (at least one token).</summary>
    private int NucleusWithinTopK(ReadOnlySpan<float> logits, float max)
    {
        double sum = 0;
        for (int i = 0; i < _count; i++)
        {
            float w = MathF.Exp(logits[CandidateKeys.Id(_keys[i])] - max);
            _weights[i] = w;
            sum += w;
        }
        double target = _options.TopP * sum, cum = 0;
        for (int i = 0; i < _count; i++)
        {
            cum += _weights[i];
            if (cum >= target) return i + 1;
        }
        return _count;
    }

    /// <summary>Top-p with top-k off: probabilities are normalised over the whole vocabulary, but only the head is
    /// sorted. A histogram of probability mass by logit finds the band of logits where the cumulative mass reaches
    /// TopP; only tokens above that band's lower edge are ranked. Tokens below the min-p floor are never ranked:
    /// min-p would cut them whatever top-p decided.</summary>
    private int NucleusOverVocabulary(ReadOnlySpan<float> logits, float max, float minPFloor)
    {
        Span<float> exp = _weights;   // exp(logit - max), indexed by token id
        TensorPrimitives.Subtract(logits, max, exp);
        TensorPrimitives.Exp(exp, exp);

        Span<double> mass = _bandMass;
        mass.Clear();
        double sum = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float e = exp[id];
            if (e == 0f) continue;   // -infinity, or too far below the maximum to carry any mass
            sum += e;
            mass[Band(logits[id], max)] += e;
        }

        double target = _options.TopP * sum, cum = 0;
        int lastBand = NucleusBands - 1;
        for (int b = 0; b < NucleusBands; b++)
        {
            cum += mass[b];
            if (cum >= target) { lastBand = b; break; }
        }

        int n = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float l = logits[id];
            if (exp[id] != 0f && l >= minPFloor && Band(l, max) <= lastBand) _keys[n++] = CandidateKeys.Make(l, id);
        }
        _keys.AsSpan(0, n).Sort();

        cum = 0;
        for (int i = 0; i < n; i++)
        {
            cum += exp[CandidateKeys.Id(_keys[i])];
            if (cum >= target) return i + 1;
        }
        return n;
    }

    /// <summary>Histogram band of a logit: width 1/8 below the maximum, the last band holding everything further down.</summary>
    private static int Band(float logit, float max) => (int)Math.Min((max - logit) * BandsPerLogit, NucleusBands - 1);

    /// <summary>Min-p on a ranked list: keep the prefix at or above the floor.</summary>
    private int CutBelow(ReadOnlySpan<float> logits, float floor)
    {
        for (int i = 0; i < _count; i++)
            if (logits[CandidateKeys.Id(_keys[i])] < floor) return i;
        return _count;
    }

    /// <summary>Inverse-CDF draw over the prepared candidates with <paramref name="u"/> uniform in [0, 1).</summary>
    internal int Draw(double u)
    {
        double target = u * _total, cum = 0;
        for (int i = 0; i < _count; i++)
        {
            cum += _weights[i];
            if (target < cum) return CandidateKeys.Id(_keys[i]);
        }
        // Rounding can leave target a hair above the last partial sum.
        return CandidateKeys.Id(_keys[_count - 1]);
    }

    /// <summary>The candidates of the last <see cref="PrepareCandidates"/> and their normalised probabilities, for tests.</summary>
    internal (int Id, double Probability)[] Candidates()
    {
        var result = new (int, double)[_count];
        for (int i = 0; i < _count; i++) result[i] = (CandidateKeys.Id(_keys[i]), _weights[i] / _total);
        return result;
    }
}

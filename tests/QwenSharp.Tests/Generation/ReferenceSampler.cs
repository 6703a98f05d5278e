using QwenSharp.Generation;

namespace QwenSharp.Tests.Generation;

/// <summary>The obvious, slow version of the sampling chain that the fast <see cref="Sampler"/> is checked against:
/// sort the whole vocabulary, then cut step by step. Penalties are not included (tested on their own).</summary>
internal static class ReferenceSampler
{
    /// <summary>Survivors of top-k, top-p, min-p in rank order with their final probabilities at the temperature.</summary>
    public static (int Id, double Probability)[] Candidates(float[] logits, SamplingOptions o)
    {
        List<int> ranked = Enumerable.Range(0, logits.Length)
            .Where(i => !float.IsNaN(logits[i]) && logits[i] != float.NegativeInfinity)
            .OrderByDescending(i => logits[i]).ThenBy(i => i).ToList();
        float max = logits[ranked[0]];

        if (o.TopK > 0) ranked = ranked.Take(o.TopK).ToList();

        if (o.TopP < 1f)
        {
            // Probabilities renormalised over what top-k left; the same float exp / double sums as the sampler.
            double sum = ranked.Sum(i => (double)MathF.Exp(logits[i] - max));
            double cum = 0;
            int keep = ranked.Count;
            for (int r = 0; r < ranked.Count; r++)
            {
                cum += MathF.Exp(logits[ranked[r]] - max);
                if (cum >= o.TopP * sum) { keep = r + 1; break; }
            }
            ranked = ranked.Take(keep).ToList();
        }

        if (o.MinP > 0f)
        {
            // p_i / p_max >= minP, computed directly from probabilities rather than with the sampler's log threshold.
            ranked = ranked.Where(i => Math.Exp(logits[i] - (double)max) >= o.MinP * (1 - 1e-6)).ToList();
        }

        double[] w = ranked.Select(i => Math.Exp((logits[i] - (double)max) / o.Temperature)).ToArray();
        double total = w.Sum();
        return ranked.Select((id, r) => (id, w[r] / total)).ToArray();
    }
}

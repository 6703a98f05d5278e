using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>The router's pieces against plain definitions: softmax, top-k order and ties.</summary>
public class MoeRoutingTests
{
    [Fact]
    public void SoftmaxMatchesTheDefinitionInDouble()
    {
        float[] logits = [0.5f, -3f, 2.25f, 7f, 7f, -0.125f];
        var p = new float[logits.Length];
        MoeFeedForward.Softmax(logits, p);
        double z = logits.Sum(l => Math.Exp(l));
        for (int i = 0; i < logits.Length; i++) Assert.Equal(Math.Exp(logits[i]) / z, p[i], 6);
    }

    [Fact]
    public void TopKIsDescendingWithTiesToTheLowerExpert()
    {
        float[] p = [0.1f, 0.3f, 0.05f, 0.3f, 0.25f];
        var index = new int[3];
        var value = new float[3];
        MoeFeedForward.TopK(p, index, value);
        Assert.Equal([1, 3, 4], index);
        Assert.Equal([0.3f, 0.3f, 0.25f], value);
    }

    [Fact]
    public void TopKAgreesWithSortingOnRandomRows()
    {
        var rng = new Random(5);
        for (int trial = 0; trial < 200; trial++)
        {
            var p = Enumerable.Range(0, 60).Select(_ => (float)rng.NextDouble()).ToArray();
            var index = new int[4];
            MoeFeedForward.TopK(p, index, new float[4]);
            var expected = p.Select((v, i) => (v, i)).OrderByDescending(x => x.v).ThenBy(x => x.i).Take(4).Select(x => x.i);
            Assert.Equal(expected, index);
        }
    }
}

/// <summary>norm_topk_prob: Qwen1.5-MoE keeps the raw softmax probabilities of its chosen experts; configs that ask
/// for it renormalise them to sum to 1.</summary>
public class MoeNormTopKTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WeightsAreTheChosenProbabilitiesRenormalisedOnlyWhenAsked(bool normalize)
    {
        float[] logits = [1f, 3f, -2f, 2.5f, 0f, 2.9f];
        var probs = new float[6];
        var chosen = new int[3];
        var weights = new float[3];
        MoeFeedForward.SelectExperts(logits, probs, chosen, weights, normalize);
        Assert.Equal([1, 5, 3], chosen);
        double z = logits.Sum(l => Math.Exp(l));
        double[] p = chosen.Select(e => Math.Exp(logits[e]) / z).ToArray();
        for (int j = 0; j < 3; j++) Assert.Equal(normalize ? p[j] / p.Sum() : p[j], weights[j], 6);
        if (normalize) Assert.Equal(1.0, weights.Sum(), 6);
        else Assert.True(weights.Sum() < 0.95);
    }
}

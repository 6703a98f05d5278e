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

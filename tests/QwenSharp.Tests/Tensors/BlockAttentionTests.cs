using QwenSharp.Tensors.Attention;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>BlockAttention on every rung against causal softmax attention written per row in double precision.</summary>
public unsafe class BlockAttentionTests
{
    private const int Lanes = BlockAttention.Lanes;

    [Theory]
    [InlineData(64, 1)]
    [InlineData(64, 9)]
    [InlineData(64, 37)]
    [InlineData(40, 16)]   // a head size that is not a multiple of 8: the column tail
    [InlineData(13, 70)]
    public void EveryRungMatchesTheDoublePrecisionReference(int d, int keyCount)
    {
        var rng = new Random(d * 1000 + keyCount);
        int stride = d + 3; // keys and values read with a row stride wider than the head, as from the F32 cache
        float[] qT = new float[d * Lanes], keys = new float[keyCount * stride], values = new float[keyCount * stride];
        int[] lastKey = new int[Lanes];
        for (int i = 0; i < qT.Length; i++) qT[i] = (float)(rng.NextDouble() * 4 - 2);
        for (int i = 0; i < keys.Length; i++) { keys[i] = (float)(rng.NextDouble() * 2 - 1); values[i] = (float)(rng.NextDouble() * 2 - 1); }
        for (int r = 0; r < Lanes; r++) lastKey[r] = r == 0 ? keyCount - 1 : rng.Next(keyCount);
        float scale = 1f / MathF.Sqrt(d);
        var expected = Reference(d, qT, keys, values, stride, lastKey, scale);

        foreach (var path in KernelPaths.All.Where(KernelPaths.IsSupported))
        {
            float[] scores = new float[keyCount * Lanes], outT = new float[d * Lanes];
            fixed (float* q = qT, k = keys, v = values, s = scores, o = outT)
            fixed (int* last = lastKey)
                BlockAttention.Run(d, q, k, v, stride, keyCount, last, scale, s, o, path);
            for (int r = 0; r < Lanes; r++)
                for (int j = 0; j < d; j++)
                    Assert.True(Math.Abs(outT[j * Lanes + r] - expected[r][j]) < 2e-6,
                        $"{path}: row {r} column {j}: {outT[j * Lanes + r]} vs {expected[r][j]}");
        }
    }

    [Fact]
    public void MaskedKeysHaveNoInfluence()
    {
        // Keys after a row's last key hold huge values; a row that attends only to key 0 must return value 0.
        int d = 8, keyCount = 5;
        float[] qT = new float[d * Lanes], keys = new float[keyCount * d], values = new float[keyCount * d];
        int[] lastKey = new int[Lanes];
        for (int i = 0; i < qT.Length; i++) qT[i] = 1;
        for (int t = 0; t < keyCount; t++)
            for (int j = 0; j < d; j++) { keys[t * d + j] = t == 0 ? 0 : 1e4f; values[t * d + j] = t == 0 ? j : -1e6f; }
        foreach (var path in KernelPaths.All.Where(KernelPaths.IsSupported))
        {
            float[] scores = new float[keyCount * Lanes], outT = new float[d * Lanes];
            fixed (float* q = qT, k = keys, v = values, s = scores, o = outT)
            fixed (int* last = lastKey)
                BlockAttention.Run(d, q, k, v, d, keyCount, last, 1f, s, o, path);
            for (int r = 0; r < Lanes; r++)
                for (int j = 0; j < d; j++) Assert.Equal((float)j, outT[j * Lanes + r]);
        }
    }

    private static double[][] Reference(int d, float[] qT, float[] keys, float[] values, int stride, int[] lastKey, float scale)
    {
        var result = new double[Lanes][];
        for (int r = 0; r < Lanes; r++)
        {
            int n = lastKey[r] + 1;
            var scores = new double[n];
            for (int t = 0; t < n; t++)
            {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += (double)qT[j * Lanes + r] * keys[t * stride + j];
                scores[t] = dot * scale;
            }
            double max = scores.Max(), sum = 0;
            for (int t = 0; t < n; t++) { scores[t] = Math.Exp(scores[t] - max); sum += scores[t]; }
            result[r] = new double[d];
            for (int j = 0; j < d; j++)
            {
                double acc = 0;
                for (int t = 0; t < n; t++) acc += scores[t] / sum * values[t * stride + j];
                result[r][j] = acc;
            }
        }
        return result;
    }
}

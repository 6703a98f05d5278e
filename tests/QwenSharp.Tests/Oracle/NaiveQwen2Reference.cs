using System.Runtime.InteropServices;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Oracle;

/// <summary>
/// The Qwen2 decoder of QWEN15.md §2 written as plainly as possible, in double precision, for F32 GGUF files.
/// Used to check that llama.cpp reads the synthetic model the way the spec says (and so that the oracle is a
/// fair reference). Slow by design: tiny models only.
/// </summary>
internal sealed class NaiveQwen2Reference
{
    private readonly Dictionary<string, float[]> _w = new();
    private readonly int _hidden, _layers, _heads, _kvHeads, _ffn, _vocab;
    private readonly double _theta, _eps;

    public NaiveQwen2Reference(string ggufPath)
    {
        using GgufFile file = GgufFile.Open(ggufPath);
        _hidden = (int)file.GetInteger("qwen2.embedding_length");
        _layers = (int)file.GetInteger("qwen2.block_count");
        _heads = (int)file.GetInteger("qwen2.attention.head_count");
        _kvHeads = (int)file.GetInteger("qwen2.attention.head_count_kv");
        _ffn = (int)file.GetInteger("qwen2.feed_forward_length");
        _theta = file.GetFloat("qwen2.rope.freq_base");
        _eps = file.GetFloat("qwen2.attention.layer_norm_rms_epsilon");
        foreach (GgufTensorInfo t in file.Tensors)
        {
            if (t.Type != GgmlType.F32) throw new NotSupportedException($"{t.Name} is {t.Type}; the naive reference reads F32 only");
            _w[t.Name] = MemoryMarshal.Cast<byte, float>(file.GetTensorSpan(t)).ToArray();
        }
        _vocab = (int)file.GetTensor("token_embd.weight").Ne(1);
    }

    /// <summary>Logits at every position of <paramref name="tokens"/>.</summary>
    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        int n = tokens.Count, d = _hidden / _heads, kvDim = _kvHeads * d;
        var x = new double[n][];
        for (int p = 0; p < n; p++) x[p] = Row("token_embd.weight", tokens[p], _hidden);

        for (int l = 0; l < _layers; l++)
        {
            string b = $"blk.{l}.";
            var q = new double[n][]; var k = new double[n][]; var v = new double[n][];
            for (int p = 0; p < n; p++)
            {
                double[] h = RmsNorm(x[p], b + "attn_norm.weight");
                q[p] = Add(MatVec(b + "attn_q.weight", h, _hidden), b + "attn_q.bias");
                k[p] = Add(MatVec(b + "attn_k.weight", h, kvDim), b + "attn_k.bias");
                v[p] = Add(MatVec(b + "attn_v.weight", h, kvDim), b + "attn_v.bias");
                for (int hd = 0; hd < _heads; hd++) Rope(q[p], hd * d, d, p);
                for (int hd = 0; hd < _kvHeads; hd++) Rope(k[p], hd * d, d, p);
            }
            for (int p = 0; p < n; p++)
            {
                var attn = new double[_hidden];
                for (int hd = 0; hd < _heads; hd++)
                {
                    int kvh = hd / (_heads / _kvHeads);
                    var scores = new double[p + 1];
                    for (int s = 0; s <= p; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < d; i++) dot += q[p][hd * d + i] * k[s][kvh * d + i];
                        scores[s] = dot / Math.Sqrt(d);
                    }
                    double max = scores.Max(), sum = 0;
                    for (int s = 0; s <= p; s++) sum += scores[s] = Math.Exp(scores[s] - max);
                    for (int s = 0; s <= p; s++)
                        for (int i = 0; i < d; i++) attn[hd * d + i] += scores[s] / sum * v[s][kvh * d + i];
                }
                double[] o = MatVec(b + "attn_output.weight", attn, _hidden);
                for (int i = 0; i < _hidden; i++) x[p][i] += o[i];

                double[] h2 = RmsNorm(x[p], b + "ffn_norm.weight");
                double[] gate = MatVec(b + "ffn_gate.weight", h2, _ffn), up = MatVec(b + "ffn_up.weight", h2, _ffn);
                var act = new double[_ffn];
                for (int i = 0; i < _ffn; i++) act[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                double[] down = MatVec(b + "ffn_down.weight", act, _hidden);
                for (int i = 0; i < _hidden; i++) x[p][i] += down[i];
            }
        }

        string outName = _w.ContainsKey("output.weight") ? "output.weight" : "token_embd.weight";
        return x.Select(row => MatVec(outName, RmsNorm(row, "output_norm.weight"), _vocab)).ToArray();
    }

    private double[] Row(string name, int row, int width) => _w[name].Skip(row * width).Take(width).Select(f => (double)f).ToArray();

    /// <summary>y = W·x for a GGUF weight with ne = {in, out}: row r of the data is output r.</summary>
    private double[] MatVec(string name, double[] x, int outDim)
    {
        float[] w = _w[name];
        int inDim = x.Length;
        if (w.Length != inDim * outDim) throw new InvalidOperationException($"{name}: {w.Length} values, expected {inDim}x{outDim}");
        var y = new double[outDim];
        for (int r = 0; r < outDim; r++)
        {
            double s = 0;
            for (int i = 0; i < inDim; i++) s += w[r * inDim + i] * x[i];
            y[r] = s;
        }
        return y;
    }

    private double[] Add(double[] y, string bias)
    {
        float[] bv = _w[bias];
        for (int i = 0; i < y.Length; i++) y[i] += bv[i];
        return y;
    }

    private double[] RmsNorm(double[] x, string weight)
    {
        float[] g = _w[weight];
        double ms = x.Sum(v => v * v) / x.Length, scale = 1 / Math.Sqrt(ms + _eps);
        return x.Select((v, i) => v * scale * g[i]).ToArray();
    }

    /// <summary>NeoX rotation: dimension i pairs with i + d/2, angle pos * theta^(-2i/d).</summary>
    private void Rope(double[] vec, int offset, int d, int pos)
    {
        for (int i = 0; i < d / 2; i++)
        {
            double angle = pos * Math.Pow(_theta, -2.0 * i / d);
            double a = vec[offset + i], b = vec[offset + i + d / 2];
            vec[offset + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
            vec[offset + i + d / 2] = b * Math.Cos(angle) + a * Math.Sin(angle);
        }
    }
}

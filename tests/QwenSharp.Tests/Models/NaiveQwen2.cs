using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>An independent, deliberately naive Qwen2 forward pass written straight from the spec's math
/// (../shared/specs/QWEN15.md §2) in double precision, with every weight dequantized to a plain array.
/// Tests hold the real engine against it; it shares nothing with the engine but the file reader and dequantizer.</summary>
internal sealed class NaiveQwen2
{
    private readonly int _h, _f, _layers, _heads, _kvHeads, _d, _vocab;
    private readonly double _theta, _eps;
    private readonly Dictionary<string, float[]> _w = [];

    public NaiveQwen2(string path)
    {
        using var file = GgufFile.Open(path);
        _h = (int)file.GetInteger("qwen2.embedding_length");
        _f = (int)file.GetInteger("qwen2.feed_forward_length");
        _layers = (int)file.GetInteger("qwen2.block_count");
        _heads = (int)file.GetInteger("qwen2.attention.head_count");
        _kvHeads = (int)file.GetInteger("qwen2.attention.head_count_kv");
        _theta = file.GetFloat("qwen2.rope.freq_base");
        _eps = file.GetFloat("qwen2.attention.layer_norm_rms_epsilon");
        _d = _h / _heads;
        foreach (var t in file.Tensors)
        {
            var values = new float[t.ElementCount];
            Dequantize.Row(t.Type, file.GetTensorSpan(t), values);
            _w[t.Name] = values;
        }
        _vocab = _w["token_embd.weight"].Length / _h;
        if (!_w.ContainsKey("output.weight")) _w["output.weight"] = _w["token_embd.weight"];
    }

    /// <summary>Logits at every position of <paramref name="tokens"/> (one sequence from position 0).</summary>
    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        int n = tokens.Count, kvDim = _kvHeads * _d;
        var x = new double[n][];
        for (int i = 0; i < n; i++)
            x[i] = Enumerable.Range(0, _h).Select(j => (double)_w["token_embd.weight"][tokens[i] * _h + j]).ToArray();

        for (int l = 0; l < _layers; l++)
        {
            string p = $"blk.{l}.";
            var q = new double[n][]; var k = new double[n][]; var v = new double[n][];
            for (int i = 0; i < n; i++)
            {
                var hn = RmsNorm(x[i], _w[p + "attn_norm.weight"]);
                q[i] = Add(MatVec(_w[p + "attn_q.weight"], _h, _h, hn), _w[p + "attn_q.bias"]);
                k[i] = Add(MatVec(_w[p + "attn_k.weight"], kvDim, _h, hn), _w[p + "attn_k.bias"]);
                v[i] = Add(MatVec(_w[p + "attn_v.weight"], kvDim, _h, hn), _w[p + "attn_v.bias"]);
                for (int head = 0; head < _heads; head++) Rope(q[i], head * _d, i);
                for (int head = 0; head < _kvHeads; head++) Rope(k[i], head * _d, i);
            }
            for (int i = 0; i < n; i++)
            {
                var concat = new double[_h];
                for (int head = 0; head < _heads; head++)
                {
                    int kvh = head / (_heads / _kvHeads);
                    var scores = new double[i + 1];
                    for (int t = 0; t <= i; t++)
                    {
                        double s = 0;
                        for (int j = 0; j < _d; j++) s += q[i][head * _d + j] * k[t][kvh * _d + j];
                        scores[t] = s / Math.Sqrt(_d);
                    }
                    double max = scores.Max(), sum = 0;
                    for (int t = 0; t <= i; t++) { scores[t] = Math.Exp(scores[t] - max); sum += scores[t]; }
                    for (int t = 0; t <= i; t++)
                        for (int j = 0; j < _d; j++) concat[head * _d + j] += scores[t] / sum * v[t][kvh * _d + j];
                }
                var o = MatVec(_w[p + "attn_output.weight"], _h, _h, concat);
                for (int j = 0; j < _h; j++) x[i][j] += o[j];

                var hn = RmsNorm(x[i], _w[p + "ffn_norm.weight"]);
                var gate = MatVec(_w[p + "ffn_gate.weight"], _f, _h, hn);
                var up = MatVec(_w[p + "ffn_up.weight"], _f, _h, hn);
                for (int j = 0; j < _f; j++) gate[j] = gate[j] / (1 + Math.Exp(-gate[j])) * up[j];
                var down = MatVec(_w[p + "ffn_down.weight"], _h, _f, gate);
                for (int j = 0; j < _h; j++) x[i][j] += down[j];
            }
        }
        return x.Select(row => MatVec(_w["output.weight"], _vocab, _h, RmsNorm(row, _w["output_norm.weight"]))).ToArray();
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        double ms = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(ms + _eps);
        return x.Select((v, j) => v * scale * weight[j]).ToArray();
    }

    /// <summary>NeoX rotation of one head: dimension j pairs with j + d/2.</summary>
    private void Rope(double[] vec, int offset, int pos)
    {
        int half = _d / 2;
        for (int j = 0; j < half; j++)
        {
            double angle = pos * Math.Pow(_theta, -2.0 * j / _d);
            double a = vec[offset + j], b = vec[offset + j + half];
            vec[offset + j] = a * Math.Cos(angle) - b * Math.Sin(angle);
            vec[offset + j + half] = a * Math.Sin(angle) + b * Math.Cos(angle);
        }
    }

    private static double[] MatVec(float[] w, int rows, int cols, double[] x)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++) s += w[(long)r * cols + c] * x[c];
            y[r] = s;
        }
        return y;
    }

    private static double[] Add(double[] a, float[] b) => a.Select((v, j) => v + b[j]).ToArray();
}

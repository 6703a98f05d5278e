using System.Runtime.InteropServices;
using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Shapes of a synthetic Qwen1.5-MoE (Qwen2MoeForCausalLM) folder.</summary>
internal sealed record HfMoeSpec(int Hidden = 64, int Layers = 2, int Heads = 4, int KvHeads = 2, int Experts = 4, int TopK = 2,
    int ExpertFfn = 32, int SharedFfn = 96, float Std = 0.2f, int Seed = 3);

/// <summary>Writes an F32 Qwen2-MoE folder with HF names and keeps the values by HF name, for
/// <see cref="NaiveHfQwen2"/> to compute the reference logits from (no GGUF, no converter involved).</summary>
internal static class HfMoeTestModel
{
    public static Dictionary<string, float[]> Write(string dir, HfMoeSpec s, SyntheticVocabulary vocab)
    {
        Directory.CreateDirectory(dir);
        int h = s.Hidden, kv = h / s.Heads * s.KvHeads, v = vocab.Tokens.Length;
        var rng = new Random(s.Seed);
        float a = s.Std * MathF.Sqrt(3f);
        var values = new Dictionary<string, float[]>();
        var w = new SafetensorsWriter();
        void T(string name, long[] shape, float mean, float scale)
        {
            var data = Enumerable.Range(0, (int)shape.Aggregate(1L, (x, y) => x * y)).Select(_ => mean + scale * (float)(2 * rng.NextDouble() - 1)).ToArray();
            values[name] = data;
            w.Add(name, "F32", shape, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());
        }
        T("model.embed_tokens.weight", [v, h], 0, a);
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            T(p + "input_layernorm.weight", [h], 1, 0.3f);
            T(p + "self_attn.q_proj.weight", [h, h], 0, a);
            T(p + "self_attn.q_proj.bias", [h], 0, a);
            T(p + "self_attn.k_proj.weight", [kv, h], 0, a);
            T(p + "self_attn.k_proj.bias", [kv], 0, a);
            T(p + "self_attn.v_proj.weight", [kv, h], 0, a);
            T(p + "self_attn.v_proj.bias", [kv], 0, a);
            T(p + "self_attn.o_proj.weight", [h, h], 0, a);
            T(p + "post_attention_layernorm.weight", [h], 1, 0.3f);
            T(p + "mlp.gate.weight", [s.Experts, h], 0, 3 * a);   // a spread-out router, so the top-k is never a near tie
            for (int e = 0; e < s.Experts; e++)
            {
                T($"{p}mlp.experts.{e}.gate_proj.weight", [s.ExpertFfn, h], 0, a);
                T($"{p}mlp.experts.{e}.up_proj.weight", [s.ExpertFfn, h], 0, a);
                T($"{p}mlp.experts.{e}.down_proj.weight", [h, s.ExpertFfn], 0, a);
            }
            T(p + "mlp.shared_expert.gate_proj.weight", [s.SharedFfn, h], 0, a);
            T(p + "mlp.shared_expert.up_proj.weight", [s.SharedFfn, h], 0, a);
            T(p + "mlp.shared_expert.down_proj.weight", [h, s.SharedFfn], 0, a);
            T(p + "mlp.shared_expert_gate.weight", [1, h], 0, a);
        }
        T("model.norm.weight", [h], 1, 0.3f);
        T("lm_head.weight", [v, h], 0, a);
        w.Write(Path.Combine(dir, "model.safetensors"));
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["architectures"] = new[] { "Qwen2MoeForCausalLM" }, ["model_type"] = "qwen2_moe", ["hidden_act"] = "silu",
            ["hidden_size"] = h, ["intermediate_size"] = s.SharedFfn, ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads, ["num_key_value_heads"] = s.KvHeads, ["max_position_embeddings"] = 8192,
            ["rope_theta"] = 1000000.0, ["rms_norm_eps"] = 1e-6, ["vocab_size"] = v, ["tie_word_embeddings"] = false,
            ["num_experts"] = s.Experts, ["num_experts_per_tok"] = s.TopK, ["moe_intermediate_size"] = s.ExpertFfn,
            ["shared_expert_intermediate_size"] = s.SharedFfn, ["norm_topk_prob"] = false, ["decoder_sparse_step"] = 1,
            ["use_sliding_window"] = false, ["bos_token_id"] = vocab.Bos, ["eos_token_id"] = vocab.Eos,
        }));
        HfTokenizerWriter.Write(dir, vocab, vocabMerges: false);
        return values;
    }
}

/// <summary>A deliberately naive Qwen2 / Qwen2-MoE forward pass in double precision over HF-named weights, written
/// from ../shared/specs/QWEN15.md §2 (MoE: softmax router over all experts, top-k without renormalising unless
/// norm_topk_prob asks, plus the shared expert scaled by sigmoid of its gate).</summary>
internal sealed class NaiveHfQwen2(Dictionary<string, float[]> w, int hidden, int layers, int heads, int kvHeads, int experts, int topK, double theta = 1e6, double eps = 1e-6,
    bool normTopK = false)
{
    private readonly int _d = hidden / heads;

    public double[][] Logits(IReadOnlyList<int> tokens)
    {
        int n = tokens.Count, h = hidden, kvDim = kvHeads * _d, vocab = w["model.embed_tokens.weight"].Length / h;
        var x = tokens.Select(t => Enumerable.Range(0, h).Select(j => (double)w["model.embed_tokens.weight"][t * h + j]).ToArray()).ToArray();
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            var q = new double[n][]; var k = new double[n][]; var v = new double[n][];
            for (int i = 0; i < n; i++)
            {
                var hn = RmsNorm(x[i], w[p + "input_layernorm.weight"]);
                q[i] = Add(MatVec(w[p + "self_attn.q_proj.weight"], h, h, hn), w[p + "self_attn.q_proj.bias"]);
                k[i] = Add(MatVec(w[p + "self_attn.k_proj.weight"], kvDim, h, hn), w[p + "self_attn.k_proj.bias"]);
                v[i] = Add(MatVec(w[p + "self_attn.v_proj.weight"], kvDim, h, hn), w[p + "self_attn.v_proj.bias"]);
                for (int head = 0; head < heads; head++) Rope(q[i], head * _d, i);
                for (int head = 0; head < kvHeads; head++) Rope(k[i], head * _d, i);
            }
            for (int i = 0; i < n; i++)
            {
                var concat = new double[h];
                for (int head = 0; head < heads; head++)
                {
                    int kvh = head / (heads / kvHeads);
                    var scores = Enumerable.Range(0, i + 1).Select(t => Enumerable.Range(0, _d).Sum(j => q[i][head * _d + j] * k[t][kvh * _d + j]) / Math.Sqrt(_d)).ToArray();
                    double max = scores.Max();
                    var e = scores.Select(s => Math.Exp(s - max)).ToArray();
                    double sum = e.Sum();
                    for (int t = 0; t <= i; t++)
                        for (int j = 0; j < _d; j++) concat[head * _d + j] += e[t] / sum * v[t][kvh * _d + j];
                }
                var o = MatVec(w[p + "self_attn.o_proj.weight"], h, h, concat);
                for (int j = 0; j < h; j++) x[i][j] += o[j];
                var hn = RmsNorm(x[i], w[p + "post_attention_layernorm.weight"]);
                var ffn = experts == 0 ? Mlp(p + "mlp.", hn) : Moe(p + "mlp.", hn);
                for (int j = 0; j < h; j++) x[i][j] += ffn[j];
            }
        }
        return x.Select(row => MatVec(w.GetValueOrDefault("lm_head.weight") ?? w["model.embed_tokens.weight"], vocab, h, RmsNorm(row, w["model.norm.weight"]))).ToArray();
    }

    private double[] Moe(string p, double[] hn)
    {
        var logits = MatVec(w[p + "gate.weight"], experts, hidden, hn);
        double max = logits.Max();
        var probs = logits.Select(z => Math.Exp(z - max)).ToArray();
        double sum = probs.Sum();
        var y = new double[hidden];
        var chosen = Enumerable.Range(0, experts).OrderByDescending(e => probs[e]).Take(topK).ToArray();
        // norm_topk_prob: the chosen experts' weights renormalised to sum to 1.
        if (normTopK) sum = chosen.Sum(e => probs[e]);
        foreach (int e in chosen)
        {
            var out_ = Mlp($"{p}experts.{e}.", hn);
            for (int j = 0; j < hidden; j++) y[j] += probs[e] / sum * out_[j];
        }
        var shared = Mlp(p + "shared_expert.", hn);
        double gate = 1 / (1 + Math.Exp(-MatVec(w[p + "shared_expert_gate.weight"], 1, hidden, hn)[0]));
        for (int j = 0; j < hidden; j++) y[j] += gate * shared[j];
        return y;
    }

    private double[] Mlp(string p, double[] hn)
    {
        int f = w[p + "gate_proj.weight"].Length / hidden;
        var g = MatVec(w[p + "gate_proj.weight"], f, hidden, hn);
        var u = MatVec(w[p + "up_proj.weight"], f, hidden, hn);
        for (int j = 0; j < f; j++) g[j] = g[j] / (1 + Math.Exp(-g[j])) * u[j];
        return MatVec(w[p + "down_proj.weight"], hidden, f, g);
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        double scale = 1 / Math.Sqrt(x.Sum(v => v * v) / x.Length + eps);
        return x.Select((v, j) => v * scale * weight[j]).ToArray();
    }

    private void Rope(double[] vec, int offset, int pos)
    {
        int half = _d / 2;
        for (int j = 0; j < half; j++)
        {
            double angle = pos * Math.Pow(theta, -2.0 * j / _d);
            double a = vec[offset + j], b = vec[offset + j + half];
            vec[offset + j] = a * Math.Cos(angle) - b * Math.Sin(angle);
            vec[offset + j + half] = a * Math.Sin(angle) + b * Math.Cos(angle);
        }
    }

    private static double[] MatVec(float[] m, int rows, int cols, double[] x)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++) s += m[(long)r * cols + c] * x[c];
            y[r] = s;
        }
        return y;
    }

    private static double[] Add(double[] a, float[] b) => a.Select((v, j) => v + b[j]).ToArray();
}

using System.Runtime.InteropServices;
using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Shapes of a synthetic HuggingFace Qwen2 folder.</summary>
internal sealed record HfTestSpec
{
    public int Hidden { get; init; } = 64;
    public int Ffn { get; init; } = 128;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    /// <summary>Embedding rows; 0 = the vocabulary's size.</summary>
    public int VocabRows { get; init; }
    public bool Tied { get; init; }
    /// <summary>safetensors dtype of the 2-D weights ("F32", "BF16", "F16"); norms and biases follow it too, as in
    /// real checkpoints (all BF16).</summary>
    public string DType { get; init; } = "F32";
    public bool Sharded { get; init; }
    /// <summary>Write vocab.json + merges.txt instead of tokenizer.json.</summary>
    public bool VocabMerges { get; init; }
    public float Std { get; init; } = 0.15f;
    public ulong Seed { get; init; } = 7;
    public string? GenerationConfigJson { get; init; }
}

/// <summary>Writes synthetic HF folders with our safetensors writer (the values rounded to the folder's dtype), and
/// the same weights as a GGUF file written directly (F32), so tests can hold the folder loader and the converter
/// against a file made without either.</summary>
internal static class HfTestModel
{
    /// <summary>GGUF name -> (HF name, HF shape [out, in] or [n], values).</summary>
    public static List<(string Gguf, string Hf, long[] Shape, float[] Values)> Weights(HfTestSpec s, int rows)
    {
        int h = s.Hidden, f = s.Ffn, kv = h / s.Heads * s.KvHeads;
        var rng = new Random((int)s.Seed);
        float a = s.Std * MathF.Sqrt(3f);
        float[] Rand(long n, float mean, float scale) => Enumerable.Range(0, (int)n).Select(_ => mean + scale * (float)(2 * rng.NextDouble() - 1)).ToArray();
        var list = new List<(string, string, long[], float[])>();
        void Mat(string gguf, string hf, int outDim, int inDim) => list.Add((gguf, hf, [outDim, inDim], Round(s.DType, Rand((long)outDim * inDim, 0, a))));
        void Vec(string gguf, string hf, int n, float mean, float scale) => list.Add((gguf, hf, [n], Round(s.DType, Rand(n, mean, scale))));

        Mat("token_embd.weight", "model.embed_tokens.weight", rows, h);
        for (int l = 0; l < s.Layers; l++)
        {
            string g = $"blk.{l}.", p = $"model.layers.{l}.";
            Vec(g + "attn_norm.weight", p + "input_layernorm.weight", h, 1f, 0.35f);
            Mat(g + "attn_q.weight", p + "self_attn.q_proj.weight", h, h);
            Vec(g + "attn_q.bias", p + "self_attn.q_proj.bias", h, 0f, a);
            Mat(g + "attn_k.weight", p + "self_attn.k_proj.weight", kv, h);
            Vec(g + "attn_k.bias", p + "self_attn.k_proj.bias", kv, 0f, a);
            Mat(g + "attn_v.weight", p + "self_attn.v_proj.weight", kv, h);
            Vec(g + "attn_v.bias", p + "self_attn.v_proj.bias", kv, 0f, a);
            Mat(g + "attn_output.weight", p + "self_attn.o_proj.weight", h, h);
            Vec(g + "ffn_norm.weight", p + "post_attention_layernorm.weight", h, 1f, 0.35f);
            Mat(g + "ffn_gate.weight", p + "mlp.gate_proj.weight", f, h);
            Mat(g + "ffn_up.weight", p + "mlp.up_proj.weight", f, h);
            Mat(g + "ffn_down.weight", p + "mlp.down_proj.weight", h, f);
        }
        Vec("output_norm.weight", "model.norm.weight", h, 1f, 0.35f);
        if (!s.Tied) Mat("output.weight", "lm_head.weight", rows, h);
        return list;
    }

    /// <summary>The values the dtype can hold (BF16 / F16 round to nearest even), so the GGUF twin has the same numbers.</summary>
    private static float[] Round(string dtype, float[] v) => dtype switch
    {
        "F32" => v,
        "BF16" => v.Select(x => (float)BitConverter.UInt32BitsToSingle((uint)BFloat16Bits(x) << 16)).ToArray(),
        "F16" => v.Select(x => (float)(Half)x).ToArray(),
        _ => throw new ArgumentException(dtype),
    };

    private static ushort BFloat16Bits(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    private static byte[] Encode(string dtype, float[] v) => dtype switch
    {
        "F32" => MemoryMarshal.AsBytes(v.AsSpan()).ToArray(),
        "BF16" => MemoryMarshal.AsBytes(v.Select(BFloat16Bits).ToArray().AsSpan()).ToArray(),
        "F16" => MemoryMarshal.AsBytes(v.Select(x => (Half)x).ToArray().AsSpan()).ToArray(),
        _ => throw new ArgumentException(dtype),
    };

    public static string WriteFolder(string dir, HfTestSpec s, SyntheticVocabulary vocab)
    {
        Directory.CreateDirectory(dir);
        int rows = s.VocabRows > 0 ? s.VocabRows : vocab.Tokens.Length;
        var weights = Weights(s, rows);
        if (s.Sharded)
        {
            var map = new Dictionary<string, string>();
            var writers = new[] { new SafetensorsWriter(), new SafetensorsWriter() };
            string[] names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
            for (int i = 0; i < weights.Count; i++)
            {
                int shard = i < weights.Count / 2 ? 0 : 1;
                writers[shard].Add(weights[i].Hf, s.DType, weights[i].Shape, Encode(s.DType, weights[i].Values));
                map[weights[i].Hf] = names[shard];
            }
            for (int i = 0; i < 2; i++)
            {
                writers[i].AddMetadata("format", "pt");
                writers[i].Write(Path.Combine(dir, names[i]));
            }
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        }
        else
        {
            var w = new SafetensorsWriter();
            w.AddMetadata("format", "pt");
            foreach (var t in weights) w.Add(t.Hf, s.DType, t.Shape, Encode(s.DType, t.Values));
            w.Write(Path.Combine(dir, "model.safetensors"));
        }
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["architectures"] = new[] { "Qwen2ForCausalLM" },
            ["model_type"] = "qwen2",
            ["hidden_act"] = "silu",
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Ffn,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["max_position_embeddings"] = 32768,
            ["rope_theta"] = 1000000.0,
            ["rms_norm_eps"] = 1e-6,
            ["vocab_size"] = rows,
            ["tie_word_embeddings"] = s.Tied,
            ["use_sliding_window"] = false,
            ["sliding_window"] = 32768,
            ["bos_token_id"] = vocab.Bos,
            ["eos_token_id"] = vocab.Pad,
            ["torch_dtype"] = s.DType == "BF16" ? "bfloat16" : "float32",
        }));
        HfTokenizerWriter.Write(dir, vocab, s.VocabMerges);
        if (s.GenerationConfigJson != null) File.WriteAllText(Path.Combine(dir, "generation_config.json"), s.GenerationConfigJson);
        return dir;
    }

    /// <summary>The same model as an F32 GGUF written tensor by tensor from the same values (no converter involved).</summary>
    public static void WriteGgufTwin(string path, HfTestSpec s, SyntheticVocabulary vocab)
    {
        int rows = s.VocabRows > 0 ? s.VocabRows : vocab.Tokens.Length;
        var w = new GgufWriter();
        w.Add("general.architecture", "qwen2");
        w.Add("qwen2.context_length", 32768u);
        w.Add("qwen2.embedding_length", (uint)s.Hidden);
        w.Add("qwen2.block_count", (uint)s.Layers);
        w.Add("qwen2.feed_forward_length", (uint)s.Ffn);
        w.Add("qwen2.attention.head_count", (uint)s.Heads);
        w.Add("qwen2.attention.head_count_kv", (uint)s.KvHeads);
        w.Add("qwen2.rope.freq_base", 1000000f);
        w.Add("qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        var tokens = Enumerable.Range(0, rows).Select(i => i < vocab.Tokens.Length ? vocab.Tokens[i] : $"[PAD{i}]").ToArray();
        var types = Enumerable.Range(0, rows).Select(i => i < vocab.Tokens.Length ? vocab.TokenTypes[i] : 5).ToArray();
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.AddArray("tokenizer.ggml.merges", vocab.Merges);
        w.Add("tokenizer.ggml.eos_token_id", (uint)vocab.Eos);
        foreach (var t in Weights(s, rows))
            w.AddTensor(t.Gguf, GgmlType.F32, t.Shape.Reverse().ToArray(), MemoryMarshal.AsBytes(t.Values.AsSpan()).ToArray());
        w.Write(path);
    }
}

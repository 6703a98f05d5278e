using System.Runtime.InteropServices;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Oracle;

/// <summary>Shape and randomness of a synthetic Qwen2 model. K-quants need Hidden and Ffn to be multiples of 256.</summary>
internal sealed record TinyQwen2Config
{
    public int Hidden { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int Ffn { get; init; } = 128;
    public int ContextLength { get; init; } = 512;
    public float RopeTheta { get; init; } = 1_000_000f;
    public float RmsEps { get; init; } = 1e-6f;

    /// <summary>Standard deviation of the random weights; large enough that the logits are far from flat.</summary>
    public float WeightStd { get; init; } = 0.5f;

    public int Seed { get; init; } = 1;

    /// <summary>No output.weight: the embedding doubles as the output projection (as in Qwen1.5-0.5B).</summary>
    public bool TiedEmbeddings { get; init; }

    public int HeadDim => Hidden / Heads;
    public int KvDim => KvHeads * HeadDim;
}

/// <summary>
/// Writes a tiny random-weight qwen2 GGUF that llama.cpp loads: F32 tensors named per QWEN15.md §5 (with q/k/v
/// biases), and a byte-level BPE vocabulary: the 256 GPT-2 byte symbols, three merges and the three ChatML
/// specials. A stand-in until the library has its own synthetic-model writer.
/// </summary>
internal static class TinyQwen2Gguf
{
    /// <summary>Merges, in rank order; their results are the tokens right after the 256 byte tokens.</summary>
    public static readonly (string Left, string Right)[] Merges = [("h", "e"), ("l", "l"), ("Ġ", "w")];

    public const int FirstMergedToken = 256;
    public const int EndOfText = 259;
    public const int ImStart = 260;
    public const int ImEnd = 261;
    public const int VocabSize = 262;

    public static string Write(string path, TinyQwen2Config? config = null)
    {
        TinyQwen2Config c = config ?? new TinyQwen2Config();
        if (c.Hidden % c.Heads != 0 || c.Heads % c.KvHeads != 0)
            throw new ArgumentException("hidden must divide into heads, heads into kv heads");
        var rnd = new Random(c.Seed);
        var w = new GgufWriter();

        w.Add("general.architecture", "qwen2");
        w.Add("general.name", "tiny-qwen2-test");
        w.Add("qwen2.context_length", (uint)c.ContextLength);
        w.Add("qwen2.embedding_length", (uint)c.Hidden);
        w.Add("qwen2.block_count", (uint)c.Layers);
        w.Add("qwen2.feed_forward_length", (uint)c.Ffn);
        w.Add("qwen2.attention.head_count", (uint)c.Heads);
        w.Add("qwen2.attention.head_count_kv", (uint)c.KvHeads);
        w.Add("qwen2.rope.freq_base", c.RopeTheta);
        w.Add("qwen2.attention.layer_norm_rms_epsilon", c.RmsEps);
        w.Add("general.file_type", 0u);   // all F32

        string[] tokens = Vocabulary();
        int[] types = new int[VocabSize];
        for (int i = 0; i < VocabSize; i++) types[i] = i >= EndOfText ? 3 : 1;   // 1 normal, 3 control
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.AddArray("tokenizer.ggml.merges", Merges.Select(m => m.Left + " " + m.Right).ToArray());
        w.Add("tokenizer.ggml.bos_token_id", (uint)EndOfText);
        w.Add("tokenizer.ggml.eos_token_id", (uint)ImEnd);
        w.Add("tokenizer.ggml.padding_token_id", (uint)EndOfText);
        w.Add("tokenizer.ggml.add_bos_token", false);

        void Tensor(string name, float std, float mean, params long[] dims)
        {
            long n = dims.Aggregate(1L, (a, b) => a * b);
            var data = new float[n];
            for (long i = 0; i < n; i++) data[i] = mean + std * Normal(rnd);
            w.AddTensor(name, GgmlType.F32, dims, MemoryMarshal.AsBytes(data.AsSpan()).ToArray());
        }

        // GGUF dims are innermost first: an HF [out, in] weight is {in, out}.
        Tensor("token_embd.weight", c.WeightStd, 0, c.Hidden, VocabSize);
        for (int l = 0; l < c.Layers; l++)
        {
            string b = $"blk.{l}.";
            Tensor(b + "attn_norm.weight", 0.1f, 1, c.Hidden);
            Tensor(b + "attn_q.weight", c.WeightStd, 0, c.Hidden, c.Hidden);
            Tensor(b + "attn_q.bias", c.WeightStd, 0, c.Hidden);
            Tensor(b + "attn_k.weight", c.WeightStd, 0, c.Hidden, c.KvDim);
            Tensor(b + "attn_k.bias", c.WeightStd, 0, c.KvDim);
            Tensor(b + "attn_v.weight", c.WeightStd, 0, c.Hidden, c.KvDim);
            Tensor(b + "attn_v.bias", c.WeightStd, 0, c.KvDim);
            Tensor(b + "attn_output.weight", c.WeightStd, 0, c.Hidden, c.Hidden);
            Tensor(b + "ffn_norm.weight", 0.1f, 1, c.Hidden);
            Tensor(b + "ffn_gate.weight", c.WeightStd, 0, c.Hidden, c.Ffn);
            Tensor(b + "ffn_up.weight", c.WeightStd, 0, c.Hidden, c.Ffn);
            Tensor(b + "ffn_down.weight", c.WeightStd, 0, c.Ffn, c.Hidden);
        }
        Tensor("output_norm.weight", 0.1f, 1, c.Hidden);
        if (!c.TiedEmbeddings) Tensor("output.weight", c.WeightStd, 0, c.Hidden, VocabSize);

        w.Write(path);
        return path;
    }

    /// <summary>Token strings: byte symbols 0..255, merge results, then the specials.</summary>
    public static string[] Vocabulary()
    {
        var tokens = new List<string>(VocabSize);
        string[] byteSymbols = ByteSymbols();
        tokens.AddRange(byteSymbols);
        tokens.AddRange(Merges.Select(m => m.Left + m.Right));
        tokens.AddRange(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
        return tokens.ToArray();
    }

    /// <summary>GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are
    /// given the code points from 256 upward in byte order (so space is "Ġ" and newline "Ċ").</summary>
    public static string[] ByteSymbols()
    {
        var symbols = new string[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = ((char)(printable ? b : next++)).ToString();
        }
        return symbols;
    }

    private static float Normal(Random rnd)
    {
        double u1 = 1.0 - rnd.NextDouble(), u2 = rnd.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}

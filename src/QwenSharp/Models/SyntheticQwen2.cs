using System.Runtime.InteropServices;
using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>Shapes and weight type of a synthetic Qwen2 model: real architecture, random weights.</summary>
public sealed record SyntheticModelSpec
{
    public int HiddenSize { get; init; } = 64;
    public int FeedForwardSize { get; init; } = 128;
    public int LayerCount { get; init; } = 2;
    public int HeadCount { get; init; } = 4;
    public int KvHeadCount { get; init; } = 2;
    /// <summary>Rows of the embedding; 0 = the vocabulary's size.</summary>
    public int VocabRows { get; init; }
    public int ContextLength { get; init; } = 4096;
    public float RopeFreqBase { get; init; } = 1_000_000f;
    public float RmsNormEps { get; init; } = 1e-6f;
    public bool TiedEmbeddings { get; init; } = true;
    /// <summary>Type of the 2-D weights; one QwenSharp can quantize to (F32, F16, BF16, Q8_0, Q4_0).</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F32;
    /// <summary>Std of the random weights: larger than a trained model's so the logits are far from flat.</summary>
    public float InitStd { get; init; } = 0.2f;
    public ulong Seed { get; init; } = 42;
    public string Name { get; init; } = "synthetic-qwen2";
    /// <summary>Experts: writes a qwen2moe file (every layer MoE) instead of a dense qwen2 one.</summary>
    public SyntheticMoeSpec? Moe { get; init; }
    /// <summary>tokenizer.chat_template; null writes none.</summary>
    public string? ChatTemplate { get; init; } = SyntheticQwen2.ChatMlTemplateSource;

    /// <summary>The Qwen1.5-0.5B shape (../shared/specs/QWEN15.md §1).</summary>
    public static SyntheticModelSpec Qwen15_0_5B => new()
    {
        HiddenSize = 1024, FeedForwardSize = 2816, LayerCount = 24, HeadCount = 16, KvHeadCount = 16,
        VocabRows = 151936, ContextLength = 32768, TiedEmbeddings = true, InitStd = 0.05f, Name = "synthetic-qwen1.5-0.5b",
    };
}

/// <summary>A tokenizer to embed: GGUF tokenizer.ggml.* arrays and special ids.</summary>
public sealed record SyntheticVocabulary(string[] Tokens, int[] TokenTypes, string[] Merges, int Bos, int Eos, int Pad)
{
    /// <summary>Piece scores: when set, the vocabulary is SentencePiece-style (tokenizer.ggml.model = "llama", as
    /// CodeQwen1.5's) and <see cref="Merges"/> is not written.</summary>
    public float[]? Scores { get; init; }
    /// <summary>tokenizer.ggml.add_space_prefix, for SentencePiece vocabularies.</summary>
    public bool AddSpacePrefix { get; init; } = true;

    /// <summary>A small byte-level vocabulary the program builds itself (no files needed): the 256 GPT-2 byte
    /// symbols, a few hundred merges of common English pairs, and Qwen's three special tokens.</summary>
    public static SyntheticVocabulary ByteLevel()
    {
        var tokens = new List<string>();
        for (int b = 0; b < 256; b++) tokens.Add(ByteSymbol((byte)b));
        var merges = new List<string>();
        string[] words = ["the", "and", "ing", "ion", "you", "hat", "tha", "her", "for", "ent", "is", "it", "in", "on", "er", "an", "re", "he", "th", "at", "en", "es", "or", "to", "of", "ed", "nd", "ha", "as", "ou"];
        var known = new HashSet<string>(tokens);
        // Each word is built left to right from merges ("t h" -> "th", "th e" -> "the"), with and without the
        // leading-space symbol Ġ, so the BPE has real multi-step merges to apply.
        foreach (string prefix in new[] { "", "Ġ" })
            foreach (string word in words.OrderBy(w => w.Length))
            {
                string left = prefix.Length > 0 ? prefix : word[..1];
                for (int i = prefix.Length > 0 ? 0 : 1; i < word.Length; i++)
                {
                    string right = word[i].ToString(), merged = left + right;
                    if (known.Add(merged))
                    {
                        merges.Add(left + " " + right);
                        tokens.Add(merged);
                    }
                    left = merged;
                }
            }
        var types = Enumerable.Repeat(1, tokens.Count).ToList();
        int eot = tokens.Count;
        foreach (string special in new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>" })
        {
            tokens.Add(special);
            types.Add(3);
        }
        return new SyntheticVocabulary([.. tokens], [.. types], [.. merges], Bos: eot, Eos: eot + 2, Pad: eot);
    }

    /// <summary>The vocabulary spelling of one byte (GPT-2's byte-to-unicode map).</summary>
    public static string ByteSymbol(byte b) => QwenSharp.Tokenization.ByteLevelAlphabet.CharOf(b).ToString();
}

/// <summary>Writes a Qwen2 GGUF with the real layout (names, keys, shapes) and seeded random weights: what tests,
/// benchmarks and `qwen run demo` run on, since no real weights can be downloaded here.</summary>
public static partial class SyntheticQwen2
{
    public static void Write(string path, SyntheticModelSpec spec, SyntheticVocabulary vocab)
    {
        int h = spec.HiddenSize, f = spec.FeedForwardSize, kv = h / spec.HeadCount * spec.KvHeadCount;
        int rows = spec.VocabRows > 0 ? spec.VocabRows : vocab.Tokens.Length;
        if (rows < vocab.Tokens.Length) throw new QwenSharpException($"vocab rows {rows} < vocabulary size {vocab.Tokens.Length}");
        var (tokens, types) = PadVocabulary(vocab, rows);

        var w = new GgufWriter();
        string arch = spec.Moe != null ? "qwen2moe" : "qwen2";
        w.Add("general.architecture", arch);
        w.Add("general.name", spec.Name);
        w.Add("general.file_type", (uint)FileType(spec.WeightType));
        w.Add($"{arch}.context_length", (uint)spec.ContextLength);
        w.Add($"{arch}.embedding_length", (uint)h);
        w.Add($"{arch}.block_count", (uint)spec.LayerCount);
        w.Add($"{arch}.feed_forward_length", (uint)f);
        w.Add($"{arch}.attention.head_count", (uint)spec.HeadCount);
        w.Add($"{arch}.attention.head_count_kv", (uint)spec.KvHeadCount);
        w.Add($"{arch}.rope.freq_base", spec.RopeFreqBase);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", spec.RmsNormEps);
        if (spec.Moe != null) AddMoeMetadata(w, arch, spec.Moe);
        if (vocab.Scores is { } scores)
            AddSentencePieceVocabulary(w, vocab, tokens, types, scores, rows);
        else
        {
            w.Add("tokenizer.ggml.model", "gpt2");
            w.Add("tokenizer.ggml.pre", "qwen2");
            w.AddArray("tokenizer.ggml.tokens", tokens);
            w.AddArray("tokenizer.ggml.token_type", types);
            w.AddArray("tokenizer.ggml.merges", vocab.Merges);
        }
        w.Add("tokenizer.ggml.bos_token_id", (uint)vocab.Bos);
        w.Add("tokenizer.ggml.eos_token_id", (uint)vocab.Eos);
        w.Add("tokenizer.ggml.padding_token_id", (uint)vocab.Pad);
        w.Add("tokenizer.ggml.add_bos_token", false);
        if (spec.ChatTemplate != null) w.Add("tokenizer.chat_template", spec.ChatTemplate);

        var rng = new SplitMix(spec.Seed);
        float std = spec.InitStd;
        AddMatrix(w, "token_embd.weight", rows, h, spec.WeightType, rng.Fork(), std);
        for (int l = 0; l < spec.LayerCount; l++)
        {
            string p = $"blk.{l}.";
            AddVector(w, p + "attn_norm.weight", h, rng.Fork(), 1f, 0.2f);
            AddMatrix(w, p + "attn_q.weight", h, h, spec.WeightType, rng.Fork(), std);
            AddMatrix(w, p + "attn_k.weight", kv, h, spec.WeightType, rng.Fork(), std);
            AddMatrix(w, p + "attn_v.weight", kv, h, spec.WeightType, rng.Fork(), std);
            AddVector(w, p + "attn_q.bias", h, rng.Fork(), 0f, std);
            AddVector(w, p + "attn_k.bias", kv, rng.Fork(), 0f, std);
            AddVector(w, p + "attn_v.bias", kv, rng.Fork(), 0f, std);
            AddMatrix(w, p + "attn_output.weight", h, h, spec.WeightType, rng.Fork(), std);
            AddVector(w, p + "ffn_norm.weight", h, rng.Fork(), 1f, 0.2f);
            if (spec.Moe != null)
            {
                AddMoeTensors(w, p, spec, rng);
                continue;
            }
            AddMatrix(w, p + "ffn_gate.weight", f, h, spec.WeightType, rng.Fork(), std);
            AddMatrix(w, p + "ffn_up.weight", f, h, spec.WeightType, rng.Fork(), std);
            AddMatrix(w, p + "ffn_down.weight", h, f, spec.WeightType, rng.Fork(), std);
        }
        AddVector(w, "output_norm.weight", h, rng.Fork(), 1f, 0.2f);
        if (!spec.TiedEmbeddings) AddMatrix(w, "output.weight", rows, h, spec.WeightType, rng.Fork(), std);

        string tmp = path + ".partial";
        w.Write(tmp);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The Qwen1.5 Chat template (../shared/specs/QWEN15.md §4), stored in the file as real models do.</summary>
    public const string ChatMlTemplateSource =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static (string[] Tokens, int[] Types) PadVocabulary(SyntheticVocabulary vocab, int rows)
    {
        var tokens = new string[rows];
        var types = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            bool real = i < vocab.Tokens.Length;
            tokens[i] = real ? vocab.Tokens[i] : $"[PAD{i}]";
            types[i] = real ? vocab.TokenTypes[i] : 5; // unused, as llama.cpp's converter marks padding rows
        }
        return (tokens, types);
    }

    private static void AddMatrix(GgufWriter w, string name, int rows, int cols, GgmlType type, SplitMix rng, float std)
    {
        if (!RowQuantizer.CanQuantize(type)) throw new QwenSharpException($"cannot write synthetic weights of type {type}");
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        w.AddTensor(name, type, [cols, rows], rowBytes * rows, stream =>
        {
            var values = new float[cols];
            var bytes = new byte[rowBytes];
            float a = std * MathF.Sqrt(3f); // uniform on [-a, a] has this std
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < cols; c++) values[c] = a * rng.NextSigned();
                RowQuantizer.Row(type, values, bytes);
                stream.Write(bytes);
            }
        });
    }

    private static void AddVector(GgufWriter w, string name, int length, SplitMix rng, float mean, float std)
    {
        var values = new float[length];
        float a = std * MathF.Sqrt(3f);
        for (int i = 0; i < length; i++) values[i] = mean + a * rng.NextSigned();
        w.AddTensor(name, GgmlType.F32, [length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    private static int FileType(GgmlType t) => t switch
    {
        GgmlType.F32 => 0, GgmlType.F16 => 1, GgmlType.Q4_0 => 2, GgmlType.Q8_0 => 7, GgmlType.Q4_K => 14, GgmlType.Q6_K => 18, GgmlType.BF16 => 32, _ => 0,
    };

    /// <summary>SplitMix64: tiny, seedable, the same on every platform and .NET version.</summary>
    private sealed class SplitMix(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [-1, 1).</summary>
        public float NextSigned() => (Next() >> 40) * (2f / (1 << 24)) - 1f;

        public SplitMix Fork() => new(Next());
    }
}

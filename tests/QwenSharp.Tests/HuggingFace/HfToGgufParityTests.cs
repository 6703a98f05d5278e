using LLama.Native;
using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Models;
using QwenSharp.Tests.Oracle;
using Xunit.Abstractions;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>A synthetic HF folder with the real Qwen vocabulary (151936 embedding rows, untied, GQA 4:2), converted by
/// `qwen convert`'s library code: QwenSharp on the folder, QwenSharp on the GGUF and llama.cpp on the GGUF must agree.</summary>
public class HfToGgufParityTests(ITestOutputHelper output)
{
    private const string Prompt = "<|im_start|>user\nQwenSharp converts HF folders. 你好，世界！ Bonjour à tous 😀 12345<|im_end|>\n<|im_start|>assistant\nSure: 2 + 3 = 5.";

    private (string Folder, string Gguf, int[] Tokens) Convert(string dtype, GgufOutputType type)
    {
        string dir = TestPaths.NewTempDir("hf2gguf");
        var spec = new HfTestSpec { DType = dtype, VocabRows = 151936, Hidden = 64, Ffn = 128, Heads = 4, KvHeads = 2, Seed = 11, Std = 0.2f };
        string folder = HfTestModel.WriteFolder(Path.Combine(dir, "Qwen1.5-Synthetic"), spec, RealVocabulary.Get() with { Eos = 151645, Pad = 151643, Bos = 151643 });
        string gguf = Path.Combine(dir, $"out-{type}.gguf");
        var lines = new List<string>();
        HfToGguf.Convert(folder, gguf, type, lines.Add);
        Assert.Contains(lines, l => l.Contains("blk.1.ffn_down.weight"));
        using var m = Qwen2Model.Load(folder);
        return (folder, gguf, m.Tokenizer.Encode(Prompt));
    }

    [Fact]
    public void F32FolderGgufAndLlamaCppAgreeWithin1e4()
    {
        var (folder, gguf, tokens) = Convert("F32", GgufOutputType.F32);
        var onFolder = HfLogits.Of(folder, tokens);
        var onGguf = HfLogits.Of(gguf, tokens);
        var llama = LlamaCppOracle.Logits(gguf, tokens);
        double a = HfLogits.MaxAbsDiff(onFolder, onGguf), b = HfLogits.MaxAbsDiff(onFolder, llama);
        output.WriteLine($"{tokens.Length} positions; folder vs gguf {a:G3}, folder vs llama.cpp {b:G3}, logit range {HfLogits.Range(llama):F2}");
        Assert.True(HfLogits.Range(llama) > 5, "flat logits");
        Assert.Equal(0, a);
        Assert.True(b <= 1e-4, $"max |diff| against llama.cpp {b}");
    }

    [Fact]
    public void Bf16FolderGgufAndLlamaCppAgreeToCosine0_99999()
    {
        var (folder, gguf, tokens) = Convert("BF16", GgufOutputType.BF16);
        using (var g = GgufFile.Open(gguf))
        {
            Assert.Equal(GgmlType.BF16, g.GetTensor("blk.0.attn_q.weight").Type);
            Assert.Equal(GgmlType.F32, g.GetTensor("blk.0.attn_q.bias").Type);
            Assert.Equal(GgmlType.F32, g.GetTensor("output_norm.weight").Type);
        }
        var onFolder = HfLogits.Of(folder, tokens);
        var onGguf = HfLogits.Of(gguf, tokens);
        var llama = LlamaCppOracle.Logits(gguf, tokens);
        double a = HfLogits.MinCosine(onFolder, onGguf), b = HfLogits.MinCosine(onFolder, llama);
        output.WriteLine($"min cosine folder vs gguf {a:F7}, folder vs llama.cpp {b:F7}");
        Assert.Equal(0, HfLogits.MaxAbsDiff(onFolder, onGguf));
        Assert.True(b >= 0.99999, $"min cosine against llama.cpp {b}");
    }

    [Fact]
    public void ConvertedFileCarriesLlamaCppsQwen2MetadataAndTokenizesLikeLlamaCpp()
    {
        var (_, gguf, tokens) = Convert("F32", GgufOutputType.F16);
        using (var g = GgufFile.Open(gguf))
        {
            Assert.Equal("qwen2", g.GetString("general.architecture"));
            Assert.Equal("Qwen1.5-Synthetic", g.GetString("general.name"));
            Assert.Equal(1L, g.GetInteger("general.file_type"));
            Assert.Equal(2L, g.GetInteger("general.quantization_version"));
            foreach (var (key, value) in new (string, long)[]
                     {
                         ("qwen2.block_count", 2), ("qwen2.context_length", 32768), ("qwen2.embedding_length", 64), ("qwen2.feed_forward_length", 128),
                         ("qwen2.attention.head_count", 4), ("qwen2.attention.head_count_kv", 2),
                         ("tokenizer.ggml.eos_token_id", 151645), ("tokenizer.ggml.padding_token_id", 151643), ("tokenizer.ggml.bos_token_id", 151643),
                     })
                Assert.Equal(value, g.GetInteger(key));
            Assert.Equal(1e6f, g.GetFloat("qwen2.rope.freq_base"));
            Assert.Equal(1e-6f, g.GetFloat("qwen2.attention.layer_norm_rms_epsilon"));
            Assert.Equal("gpt2", g.GetString("tokenizer.ggml.model"));
            Assert.Equal("qwen2", g.GetString("tokenizer.ggml.pre"));
            string[] t = g.GetStringArray("tokenizer.ggml.tokens");
            long[] types = g.GetIntegerArray("tokenizer.ggml.token_type");
            Assert.Equal(151936, t.Length);
            Assert.Equal("[PAD151900]", t[151900]);
            Assert.Equal(5, types[151900]);
            Assert.Equal("<|im_end|>", t[151645]);
            Assert.Equal(3, types[151645]);
            Assert.Equal(1, types[9707]);
            Assert.Equal(151387, g.GetStringArray("tokenizer.ggml.merges").Length);
            Assert.Equal("Ġ Ġ", g.GetStringArray("tokenizer.ggml.merges")[0]);
            Assert.Equal(SyntheticQwen2.ChatMlTemplateSource, g.GetString("tokenizer.chat_template"));
            Assert.Equal(GgmlType.F16, g.GetTensor("token_embd.weight").Type);
            Assert.Equal(GgmlType.F16, g.GetTensor("output.weight").Type);
            Assert.Equal(GgmlType.F32, g.GetTensor("blk.1.ffn_norm.weight").Type);
            Assert.Equal([64L, 151936L], g.GetTensor("token_embd.weight").Dims);
            Assert.Equal([64L, 32L], g.GetTensor("blk.0.attn_k.weight").Dims);
        }
        Assert.Equal(tokens, LlamaCppOracle.Tokenize(gguf, Prompt));
    }
}

/// <summary>q4_0 / q4_k_m / q6_k conversions against llama-quantize run on the same weights (our F32 conversion): the
/// same type for every tensor (the Q4_K_M mix, the output head, fallbacks for rows that do not fit 256) and the
/// same block bytes from our K-quant quantizers.</summary>
public class HfToGgufQuantizeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(GgufOutputType.Q4_0, LLamaFtype.MOSTLY_Q4_0, false)]
    [InlineData(GgufOutputType.Q4_K_M, LLamaFtype.MOSTLY_Q4_K_M, false)]
    [InlineData(GgufOutputType.Q4_K_M, LLamaFtype.MOSTLY_Q4_K_M, true)]
    [InlineData(GgufOutputType.Q6_K, LLamaFtype.MOSTLY_Q6_K, false)]
    public void TypesAndBytesMatchLlamaQuantize(GgufOutputType ours, LLamaFtype theirs, bool tied)
    {
        string dir = TestPaths.NewTempDir("hf-quant-mix");
        // ffn 640: ffn_down rows are not a multiple of 256, so the fallbacks are exercised; 8 layers for the mix.
        var spec = new HfTestSpec { Hidden = 256, Ffn = 640, Layers = 8, Heads = 4, KvHeads = 2, Seed = 5, Tied = tied };
        string folder = HfTestModel.WriteFolder(Path.Combine(dir, "hf"), spec, SyntheticVocabulary.ByteLevel());
        string f32 = Path.Combine(dir, "f32.gguf"), mine = Path.Combine(dir, "mine.gguf"), reference = Path.Combine(dir, "llama.gguf");
        HfToGguf.Convert(folder, f32, GgufOutputType.F32);
        HfToGguf.Convert(folder, mine, ours);
        LlamaCppOracle.Quantize(f32, reference, theirs);
        using var a = GgufFile.Open(mine);
        using var b = GgufFile.Open(reference);
        Assert.Equal(b.Tensors.Select(t => t.Name).Order(), a.Tensors.Select(t => t.Name).Order());
        long blocks = 0, same = 0;
        foreach (var tb in b.Tensors)
        {
            var ta = a.GetTensor(tb.Name);
            Assert.True(tb.Type == ta.Type, $"{tb.Name}: ours {GgmlTypeInfo.Name(ta.Type)}, llama.cpp {GgmlTypeInfo.Name(tb.Type)}");
            if (tb.DimCount < 2) continue;
            int size = GgmlTypeInfo.Block(tb.Type).TypeSize;
            var sa = a.GetTensorSpan(ta);
            var sb = b.GetTensorSpan(tb);
            for (int o = 0; o < sb.Length; o += size, blocks++)
                if (sa.Slice(o, size).SequenceEqual(sb.Slice(o, size))) same++;
        }
        var mix = a.Tensors.GroupBy(t => GgmlTypeInfo.Name(t.Type)).Select(g => $"{g.Key} x{g.Count()}");
        if (tied) Assert.Equal(GgmlType.Q6_K, a.GetTensor("token_embd.weight").Type);   // the tied embedding is the output head
        output.WriteLine($"{ours}: {string.Join(", ", mix)}; identical blocks {same}/{blocks} ({100.0 * same / blocks:F3}%)");
        Assert.True(same >= blocks * 0.999, $"only {same} of {blocks} blocks are identical to llama.cpp's");
    }
}

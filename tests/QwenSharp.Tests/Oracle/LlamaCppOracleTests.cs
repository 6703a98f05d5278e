using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Models;
using QwenSharp.Tokenization;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Oracle;

/// <summary>One tiny F32 model shared by the oracle tests, and the ids its own tokenizer gives the specials.</summary>
public sealed class TinyModelFixture : IDisposable
{
    /// <summary>Where the quantized copies go; the source models are cached by <see cref="SyntheticModels"/>.</summary>
    public string Dir { get; } = TestPaths.NewTempDir("oracle");

    /// <summary>Untied output projection, and weights wide enough (std 0.5) that the logits are far from flat.</summary>
    public string F32Path { get; } = SyntheticModels.Get("oracle-f32", OracleSpec);

    /// <summary>Rows of 256 so that K-quants (256-element blocks) apply without llama.cpp's fallback types.</summary>
    public string Wide256Path { get; } = SyntheticModels.Get("oracle-wide256-f32",
        OracleSpec with { HiddenSize = 256, FeedForwardSize = 512, HeadCount = 4, KvHeadCount = 2, LayerCount = 1 });

    public Qwen2Model Model { get; }
    public QwenTokenizer Tokenizer => Model.Tokenizer;
    public int VocabSize => Model.Tokenizer.VocabSize;
    public int ImStart => Model.Special.ImStart ?? throw new InvalidOperationException("no <|im_start|> in the vocabulary");
    public int ImEnd => Model.Special.ImEnd ?? throw new InvalidOperationException("no <|im_end|> in the vocabulary");

    /// <summary>A short chat turn, tokenized by our tokenizer: &lt;|im_start|&gt; ... &lt;|im_end|&gt;.</summary>
    public int[] Prompt { get; }

    internal static SyntheticModelSpec OracleSpec => SyntheticModels.Tiny with
    {
        FeedForwardSize = 128, ContextLength = 512, TiedEmbeddings = false, InitStd = 0.5f, Seed = 1,
    };

    public TinyModelFixture()
    {
        Model = Qwen2Model.Load(F32Path);
        Prompt = Tokenizer.Encode("<|im_start|>user\nHi!<|im_end|>");
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

public class LlamaCppOracleTests(TinyModelFixture model, ITestOutputHelper output) : IClassFixture<TinyModelFixture>
{
    private int[] Prompt => model.Prompt;

    [Fact]
    public void NativeLibraryLoadsAndReportsItsVariant()
    {
        string lib = LlamaCppOracle.LoadedLibrary();
        output.WriteLine($"llama.cpp library: {lib}");
        Assert.EndsWith("libllama.so", lib);
    }

    [Fact]
    public void LogitsHaveOneFiniteVaryingRowPerPosition()
    {
        float[][] logits = LlamaCppOracle.Logits(model.F32Path, Prompt);
        Assert.Equal(Prompt.Length, logits.Length);
        foreach (float[] row in logits)
        {
            Assert.Equal(model.VocabSize, row.Length);
            Assert.All(row, v => Assert.True(float.IsFinite(v)));
            Assert.True(row.Max() - row.Min() > 1f, "logits are nearly flat");
        }
        // Different contexts must give different predictions (the model is not ignoring its input).
        Assert.NotEqual(logits[0], logits[^1]);
    }

    [Fact]
    public void TokenByTokenAndUnrepackedRunsGiveTheOneBatchLogitsForF32()
    {
        // With F32 weights nothing is rounded to a coarser grid, so llama.cpp's three ways of running the prompt
        // (batched kernels; one token per call; one token per call without weight repacking) may differ only in the
        // order of fp32 additions.
        float[][] batch = LlamaCppOracle.Logits(model.F32Path, Prompt, LlamaCppEvaluation.OneBatch);
        foreach (var evaluation in new[] { LlamaCppEvaluation.TokenByToken, LlamaCppEvaluation.TokenByTokenUnrepacked, LlamaCppEvaluation.OneBatchUnrepacked })
        {
            float[][] other = LlamaCppOracle.Logits(model.F32Path, Prompt, evaluation);
            Assert.Equal(batch.Length, other.Length);
            double worst = 0, scale = 0;
            for (int p = 0; p < batch.Length; p++)
                for (int v = 0; v < batch[p].Length; v++)
                {
                    worst = Math.Max(worst, Math.Abs(batch[p][v] - other[p][v]));
                    scale = Math.Max(scale, Math.Abs(batch[p][v]));
                }
            output.WriteLine($"{evaluation}: max |diff| from one batch {worst:E2} (max |logit| {scale:F2})");
            Assert.True(worst <= 1e-5 * scale, $"{evaluation}: {worst}");
        }
    }

    [Fact]
    public void LogitsAreCausal()
    {
        // The first positions cannot see later tokens, so a longer sequence leaves their logits unchanged.
        float[][] shortRun = LlamaCppOracle.Logits(model.F32Path, Prompt[..4]);
        float[][] longRun = LlamaCppOracle.Logits(model.F32Path, Prompt);
        for (int pos = 0; pos < 4; pos++)
            for (int v = 0; v < model.VocabSize; v++)
                Assert.Equal(shortRun[pos][v], longRun[pos][v], 1e-4f);
    }

    [Fact]
    public void GreedyFollowsTheArgmaxOfFullSequenceLogits()
    {
        int[] generated = LlamaCppOracle.Greedy(model.F32Path, Prompt, 4);
        Assert.Equal(4, generated.Length);

        // Re-evaluate prompt + the tokens so far in one batch; each generated token must be the argmax of the
        // last row (unless the top two are within rounding of each other).
        var sequence = new List<int>(Prompt);
        foreach (int token in generated)
        {
            float[] last = LlamaCppOracle.Logits(model.F32Path, sequence)[^1];
            int argmax = Array.IndexOf(last, last.Max());
            if (argmax != token) Assert.True(Math.Abs(last[argmax] - last[token]) < 1e-4f, $"greedy chose {token}, batch argmax is {argmax}");
            sequence.Add(token);
        }
        output.WriteLine($"greedy: {string.Join(", ", generated)}");
    }

    public static TheoryData<string> TokenizerTexts() => new()
    {
        "hello world",
        " the and ing",
        "the thing is that you and her were there for the end",
        "Thinking of\ntheir 123 reasons, isn't it?",
        "<|im_start|>user\nthe end<|im_end|>\n",
    };

    [Theory]
    [MemberData(nameof(TokenizerTexts))]
    public void TokenizeGivesOurTokenizersIdsWithSpecialsParsed(string text)
    {
        int[] ours = model.Tokenizer.Encode(text, parseSpecial: true);
        int[] theirs = LlamaCppOracle.Tokenize(model.F32Path, text, parseSpecial: true);
        output.WriteLine($"{text.ReplaceLineEndings("\\n")}: {string.Join(", ", theirs)}");
        Assert.Equal(ours, theirs);
    }

    [Theory]
    [MemberData(nameof(TokenizerTexts))]
    public void TokenizeGivesOurTokenizersIdsWithSpecialsAsText(string text)
    {
        int[] theirs = LlamaCppOracle.Tokenize(model.F32Path, text, parseSpecial: false);
        Assert.Equal(model.Tokenizer.Encode(text, parseSpecial: false), theirs);
        Assert.DoesNotContain(model.ImStart, theirs);
        Assert.DoesNotContain(model.ImEnd, theirs);
    }

    [Fact]
    public void TokenizeAppliesTheVocabularysMergesAndParsesSpecials()
    {
        // The id comparisons above would also pass if both sides only produced byte tokens; these pin that the
        // byte-level merges of SyntheticVocabulary.ByteLevel() really are applied, and the specials recognised.
        string[] vocabulary = SyntheticVocabulary.ByteLevel().Tokens;
        int Id(string token)
        {
            int id = Array.IndexOf(vocabulary, token);
            Assert.True(id >= 256, $"{token} is not a merged token of the vocabulary");
            return id;
        }
        // "an d" and "in g" are the lowest-ranked merges that cover these words whole.
        Assert.Equal([Id("and")], LlamaCppOracle.Tokenize(model.F32Path, "and"));
        Assert.Equal([Id("ing")], LlamaCppOracle.Tokenize(model.F32Path, "ing"));
        Assert.Equal([model.ImStart, Id("and"), model.ImEnd], LlamaCppOracle.Tokenize(model.F32Path, "<|im_start|>and<|im_end|>"));

        // Whatever merges apply, the tokens must spell the text's bytes, in fewer tokens than bytes.
        const string text = " the and ing";
        int[] ids = LlamaCppOracle.Tokenize(model.F32Path, text);
        string spelled = string.Concat(System.Text.Encoding.UTF8.GetBytes(text).Select(SyntheticVocabulary.ByteSymbol));
        Assert.Equal(spelled, string.Concat(ids.Select(id => vocabulary[id])));
        Assert.True(ids.Length < text.Length, $"no merges applied: {string.Join(", ", ids)}");
    }

    public static TheoryData<GgmlType, bool> QuantTypes()
    {
        var data = new TheoryData<GgmlType, bool>();
        GgmlType[] types = [GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
            GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];
        foreach (GgmlType t in types)
            foreach (bool pure in new[] { false, true }) data.Add(t, pure);
        return data;
    }

    [Theory]
    [MemberData(nameof(QuantTypes))]
    public void QuantizeWritesALoadableFileOfTheRequestedType(GgmlType type, bool pure)
    {
        bool kQuant = GgmlTypeInfo.Block(type).BlockSize == 256;
        string dst = Path.Combine(model.Dir, $"tiny-{type}-{(pure ? "pure" : "mix")}.gguf");
        LlamaCppOracle.Quantize(kQuant ? model.Wide256Path : model.F32Path, dst, type, pure);

        using (GgufFile file = GgufFile.Open(dst))
        {
            GgufTensorInfo[] matrices = file.Tensors.Where(t => t.DimCount == 2).ToArray();
            output.WriteLine(string.Join("\n", matrices.Select(t => t.ToString())));
            if (pure) Assert.All(matrices, t => Assert.Equal(type, t.Type));
            else Assert.Contains(matrices, t => t.Type == type);
            Assert.All(matrices, t => Assert.NotEqual(GgmlType.F32, t.Type));
            Assert.All(file.Tensors.Where(t => t.DimCount == 1), t => Assert.Equal(GgmlType.F32, t.Type));   // norms and biases stay F32
        }

        float[][] logits = LlamaCppOracle.Logits(dst, Prompt[..3]);
        Assert.All(logits, row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
    }
}

public class LlamaCppOracleAgreesWithTheSpecTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OracleLogitsMatchTheNaiveDoublePrecisionDecoder(bool tied)
    {
        string path = SyntheticModels.Get($"oracle-naive-{(tied ? "tied" : "untied")}",
            TinyModelFixture.OracleSpec with { TiedEmbeddings = tied, Seed = tied ? 5UL : 6UL });
        int[] tokens;
        int vocabSize;
        using (Qwen2Model loaded = Qwen2Model.Load(path))
        {
            // Byte tokens (a non-ASCII byte among them), merged tokens and two specials, as our tokenizer spells them.
            tokens = [.. loaded.Tokenizer.Encode("<|im_start|>ab\n"), ByteToken(loaded.Tokenizer, 200),
                .. loaded.Tokenizer.Encode("z<|endoftext|> qrst the")];
            vocabSize = loaded.Tokenizer.VocabSize;
        }

        float[][] oracle = LlamaCppOracle.Logits(path, tokens);
        double[][] naive = new NaiveQwen2(path).Logits(tokens);

        double worst = 0, scale = 0;
        for (int p = 0; p < tokens.Length; p++)
            for (int v = 0; v < vocabSize; v++)
            {
                worst = Math.Max(worst, Math.Abs(oracle[p][v] - naive[p][v]));
                scale = Math.Max(scale, Math.Abs(naive[p][v]));
            }
        output.WriteLine($"tied={tied}: max |llama.cpp - naive| = {worst:E3}, max |logit| = {scale:F2}");
        Assert.True(worst < 1e-4 * scale, $"max difference {worst} against logit scale {scale}");
    }

    private static int ByteToken(QwenTokenizer tokenizer, byte b) =>
        tokenizer.TryGetTokenId(SyntheticVocabulary.ByteSymbol(b), out int id) ? id : throw new InvalidOperationException($"no token for byte {b}");
}

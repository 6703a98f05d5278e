using QwenSharp.Formats;
using QwenSharp.Tensors;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Oracle;

/// <summary>One tiny F32 model shared by the oracle tests.</summary>
public sealed class TinyModelFixture : IDisposable
{
    public string Dir { get; } = TestPaths.NewTempDir("oracle");
    public string F32Path { get; }

    /// <summary>Rows of 256 so that K-quants (256-element blocks) apply without llama.cpp's fallback types.</summary>
    public string Wide256Path { get; }

    public TinyModelFixture()
    {
        F32Path = TinyQwen2Gguf.Write(Path.Combine(Dir, "tiny-f32.gguf"));
        Wide256Path = TinyQwen2Gguf.Write(Path.Combine(Dir, "tiny256-f32.gguf"), new TinyQwen2Config { Hidden = 256, Ffn = 512, Heads = 4, KvHeads = 2, Layers = 1 });
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

public class LlamaCppOracleTests(TinyModelFixture model, ITestOutputHelper output) : IClassFixture<TinyModelFixture>
{
    private static readonly int[] Prompt = [TinyQwen2Gguf.ImStart, 'u', 's', 'e', 'r', 10, 'H', 'i', '!', TinyQwen2Gguf.ImEnd];

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
            Assert.Equal(TinyQwen2Gguf.VocabSize, row.Length);
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
            for (int v = 0; v < TinyQwen2Gguf.VocabSize; v++)
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

    [Fact]
    public void TokenizeUsesTheByteLevelVocabularyMergesAndSpecials()
    {
        // "hello world": "he" (merge 0) + "ll" (merge 1) + "o" + "Ġw" (merge 2) + "o" "r" "l" "d".
        int[] expected = [TinyQwen2Gguf.FirstMergedToken, TinyQwen2Gguf.FirstMergedToken + 1, 'o', TinyQwen2Gguf.FirstMergedToken + 2, 'o', 'r', 'l', 'd'];
        Assert.Equal(expected, LlamaCppOracle.Tokenize(model.F32Path, "hello world"));

        int[] chat = LlamaCppOracle.Tokenize(model.F32Path, "<|im_start|>x<|im_end|>");
        Assert.Equal([TinyQwen2Gguf.ImStart, 'x', TinyQwen2Gguf.ImEnd], chat);
        int[] literal = LlamaCppOracle.Tokenize(model.F32Path, "<|im_end|>", parseSpecial: false);
        Assert.DoesNotContain(TinyQwen2Gguf.ImEnd, literal);
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
        string dir = TestPaths.NewTempDir("oracle-naive");
        string path = TinyQwen2Gguf.Write(Path.Combine(dir, "tiny.gguf"), new TinyQwen2Config { TiedEmbeddings = tied, Seed = tied ? 5 : 6 });
        int[] tokens = [TinyQwen2Gguf.ImStart, 'a', 'b', 10, 200, 'z', TinyQwen2Gguf.EndOfText, ' ', 'q', 'r', 's', 't'];

        float[][] oracle = LlamaCppOracle.Logits(path, tokens);
        double[][] naive = new QwenSharp.Tests.Models.NaiveQwen2(path).Logits(tokens);

        double worst = 0, scale = 0;
        for (int p = 0; p < tokens.Length; p++)
            for (int v = 0; v < TinyQwen2Gguf.VocabSize; v++)
            {
                worst = Math.Max(worst, Math.Abs(oracle[p][v] - naive[p][v]));
                scale = Math.Max(scale, Math.Abs(naive[p][v]));
            }
        output.WriteLine($"tied={tied}: max |llama.cpp - naive| = {worst:E3}, max |logit| = {scale:F2}");
        Assert.True(worst < 1e-4 * scale, $"max difference {worst} against logit scale {scale}");
        Directory.Delete(dir, true);
    }
}

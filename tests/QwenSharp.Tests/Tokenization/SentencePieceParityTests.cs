using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tests.Oracle;
using QwenSharp.Tokenization;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Tokenization;

/// <summary>A tiny model whose GGUF carries the SentencePiece-style test vocabulary (tokenizer.ggml.model = "llama").</summary>
public sealed class SentencePieceFixture
{
    public string Path { get; }
    public string Corpus { get; }
    public QwenTokenizer Ours { get; }

    public SentencePieceFixture()
    {
        Corpus = File.ReadAllText(System.IO.Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Tokenization", "corpus.txt"));
        Path = System.IO.Path.Combine(TestPaths.NewTempDir("spm"), "spm.gguf");
        SyntheticQwen2.Write(Path, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 64, LayerCount = 1, HeadCount = 4, KvHeadCount = 2, ContextLength = 256 },
            SentencePieceTestVocabulary.Build(Corpus));
        using var file = GgufFile.Open(Path);
        Ours = GgufTokenizer.Load(file);
    }
}

/// <summary>Our SentencePiece strategy against llama.cpp's SPM tokenizer on the multilingual parity corpus.</summary>
public sealed class SentencePieceParityTests(SentencePieceFixture fx, ITestOutputHelper output) : IClassFixture<SentencePieceFixture>
{
    [Fact]
    public void TheVocabularyIsSentencePieceWithByteFallback()
    {
        Assert.Equal("llama", fx.Ours.Model);
        Assert.True(fx.Ours.TryGetTokenId("<0x0A>", out int newline));
        Assert.Equal("\n"u8.ToArray(), fx.Ours.TokenBytes(newline).ToArray());
        Assert.True(fx.Ours.TryGetTokenId("\u2581the", out int the));
        Assert.Equal(" the"u8.ToArray(), fx.Ours.TokenBytes(the).ToArray());
        // an emoji is not in the vocabulary: after the prefix space, its four UTF-8 bytes come out as byte tokens
        int[] ids = fx.Ours.Encode("😀", parseSpecial: false);
        Assert.Equal(["\u2581", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], ids.Select(fx.Ours.TokenText).ToArray());
    }

    [Fact]
    public void EveryCorpusLineTokenisesAsLlamaCppDoes()
    {
        var lines = fx.Corpus.Split('\n');
        int ids = 0, fallbacks = 0;
        var mismatches = new List<string>();
        foreach (string line in lines)
        {
            int[] theirs = LlamaCppOracle.Tokenize(fx.Path, line, addBos: false, parseSpecial: true);
            int[] ours = fx.Ours.Encode(line);
            ids += theirs.Length;
            fallbacks += ours.Count(id => fx.Ours.TokenText(id).StartsWith("<0x", StringComparison.Ordinal));
            if (!ours.AsSpan().SequenceEqual(theirs))
                mismatches.Add($"{line}\n  ours  [{string.Join(",", ours)}]\n  llama [{string.Join(",", theirs)}]");
        }
        output.WriteLine($"lines {lines.Length}, ids {ids}, byte-fallback ids {fallbacks}, mismatching lines {mismatches.Count}");
        Assert.True(fallbacks > 100, "byte fallback should be exercised");
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(8)));
    }

    [Fact]
    public void TheWholeCorpusAndUnparsedSpecialsTokeniseAsLlamaCppDoes()
    {
        Assert.Equal(LlamaCppOracle.Tokenize(fx.Path, fx.Corpus, addBos: false, parseSpecial: true), fx.Ours.Encode(fx.Corpus));
        string chat = "<|im_start|>user\n写一个函数 <fim_prefix>def f(x):<fim_suffix>    return y<fim_middle><|im_end|>";
        Assert.Equal(LlamaCppOracle.Tokenize(fx.Path, chat, addBos: false, parseSpecial: true), fx.Ours.Encode(chat));
        Assert.Equal(LlamaCppOracle.Tokenize(fx.Path, chat, addBos: false, parseSpecial: false), fx.Ours.Encode(chat, parseSpecial: false));
    }

    [Fact]
    public void DecodeGivesBackTheText()
    {
        // No normalisation, byte fallback is lossless, and the prefix space the encoder adds is dropped again.
        foreach (string line in fx.Corpus.Split('\n').Where(l => !l.Contains('<')))
            Assert.Equal(System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(line)), fx.Ours.Decode(fx.Ours.Encode(line)));
    }
}

/// <summary>Malformed SentencePiece vocabularies are clear errors.</summary>
public sealed class SentencePieceVocabularyErrorTests
{
    [Fact]
    public void LlamaVocabularyWithoutScoresIsAClearError()
    {
        string path = QwenSharp.Tests.Models.TokenizerModelRewrite.TinyF32With("llama", "spm-no-scores");
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(path));
        Assert.Contains("tokenizer.ggml.scores", e.Message);
    }

    [Fact]
    public void ByteTypedTokenThatIsNotAByteIsRejected()
    {
        var e = Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromSentencePiece(["<unk>", "<0xZZ>"], [0f, 0f], [2, 6]));
        Assert.Contains("<0xZZ>", e.Message);
    }
}

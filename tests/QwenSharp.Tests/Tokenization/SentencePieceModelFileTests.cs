using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>CodeQwen1.5's HF files: tokenizer.model (SentencePiece protobuf) read as llama.cpp's converter reads it
/// must give the tokenizer the GGUF vocabulary gives (which <see cref="SentencePieceParityTests"/> holds to llama.cpp).
/// The protobuf is written here by a small writer that follows sentencepiece_model.proto's field numbers.</summary>
public sealed class SentencePieceModelFileTests(SentencePieceFixture fx) : IClassFixture<SentencePieceFixture>
{
    private static void Varint(MemoryStream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    private static void Field(MemoryStream s, int field, byte[] bytes)
    {
        Varint(s, (ulong)(field << 3 | 2));
        Varint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    /// <summary>ModelProto { pieces = 1 { piece = 1, score = 2, type = 3 }, trainer_spec = 2 (ignored), normalizer_spec = 3 { add_dummy_prefix = 3 } }.</summary>
    private static string WriteModel(IReadOnlyList<string> tokens, IReadOnlyList<float> scores, IReadOnlyList<int> types, bool addDummyPrefix)
    {
        var file = new MemoryStream();
        Field(file, 2, [0x18, 0x02]); // trainer_spec { model_type = BPE }: present in real files, skipped by the reader
        for (int i = 0; i < tokens.Count; i++)
        {
            var piece = new MemoryStream();
            Field(piece, 1, Encoding.UTF8.GetBytes(tokens[i]));
            Varint(piece, 2 << 3 | 5);
            piece.Write(BitConverter.GetBytes(scores[i]));
            if (types[i] != 1) { Varint(piece, 3 << 3); Varint(piece, (ulong)types[i]); } // NORMAL is the default, left out
            Field(file, 1, piece.ToArray());
        }
        var normalizer = new MemoryStream();
        Field(normalizer, 1, "identity"u8.ToArray());
        Varint(normalizer, 3 << 3);
        Varint(normalizer, addDummyPrefix ? 1UL : 0UL);
        Field(file, 3, normalizer.ToArray());
        string path = Path.Combine(TestPaths.NewTempDir("spm-model"), "tokenizer.model");
        File.WriteAllBytes(path, file.ToArray());
        return path;
    }

    [Fact]
    public void TokenizerModelGivesTheSameIdsAsTheGgufVocabulary()
    {
        var v = SentencePieceTestVocabulary.Build(fx.Corpus);
        var fromModel = QwenTokenizer.FromSentencePieceModel(WriteModel(v.Tokens, v.Scores!, v.TokenTypes, addDummyPrefix: true));
        Assert.Equal(fx.Ours.VocabSize, fromModel.VocabSize);
        foreach (string line in fx.Corpus.Split('\n'))
            Assert.Equal(fx.Ours.Encode(line), fromModel.Encode(line));
        Assert.Equal(fx.Ours.Encode(fx.Corpus), fromModel.Encode(fx.Corpus));
        Assert.True(fromModel.IsSpecial(fromModel.Encode("<|im_end|>")[0]));
    }

    [Fact]
    public void AddDummyPrefixOffDropsTheLeadingSpace()
    {
        var v = SentencePieceTestVocabulary.Build(fx.Corpus);
        var noPrefix = QwenTokenizer.FromSentencePieceModel(WriteModel(v.Tokens, v.Scores!, v.TokenTypes, addDummyPrefix: false));
        int[] ids = noPrefix.Encode("the");
        Assert.DoesNotContain(ids, id => noPrefix.TokenText(id).StartsWith('\u2581'));
        Assert.StartsWith("\u2581", fx.Ours.TokenText(fx.Ours.Encode("the")[0]));
        Assert.Equal("the", noPrefix.Decode(ids));
    }

    [Fact]
    public void AddedTokensOfTokenizerConfigBecomeControlOrUserDefined()
    {
        var v = SentencePieceTestVocabulary.Build(fx.Corpus);
        // the pieces without the trailing added tokens; tokenizer_config.json adds two of them back, past the end
        int n = v.Tokens.Length;
        string model = WriteModel(v.Tokens, v.Scores!, v.TokenTypes, addDummyPrefix: true);
        string config = Path.Combine(Path.GetDirectoryName(model)!, "tokenizer_config.json");
        File.WriteAllText(config, "{\"added_tokens_decoder\": {\"" + (n + 1) + "\": {\"content\": \"<|box_start|>\", \"special\": true}, \""
                                  + n + "\": {\"content\": \"<tool>\", \"special\": false}}}");
        var t = QwenTokenizer.FromSentencePieceModel(model, config);
        Assert.Equal(n + 2, t.VocabSize);
        Assert.Equal([n + 1], t.Encode("<|box_start|>"));
        Assert.True(t.IsSpecial(n + 1));
        Assert.Contains(n, t.Encode("<tool>", parseSpecial: false)); // user-defined tokens are found even then
        Assert.DoesNotContain(n + 1, t.Encode("<|box_start|>", parseSpecial: false));
    }

    [Fact]
    public void ACorruptFileIsAClearError()
    {
        string path = Path.Combine(TestPaths.NewTempDir("spm-bad"), "tokenizer.model");
        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0x7F, 0x01]);
        var e = Assert.Throws<ModelFileException>(() => QwenTokenizer.FromSentencePieceModel(path));
        Assert.Contains("not a SentencePiece model file", e.Message);
    }
}

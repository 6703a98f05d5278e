using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Facts about the Qwen vocabulary from its documentation (specs/QWEN15.md §3, the tokenizer README), and how
/// special tokens are parsed.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class KnownTokenTests(TokenizerFixture fx)
{
    private QwenTokenizer Tok => fx.Ours;

    [Fact]
    public void DocumentedExamplesHaveTheirDocumentedIds()
    {
        Assert.Equal([9707, 1879], Tok.Encode("Hello world"));
        Assert.Equal([21927, 1879], Tok.Encode(" Hello world"));
    }

    [Fact]
    public void VocabularyHasTheDocumentedSizeAndSpecialTokens()
    {
        Assert.Equal(151669, Tok.VocabSize);
        Assert.Equal([151643], Tok.Encode("<|endoftext|>"));
        Assert.Equal([151644], Tok.Encode("<|im_start|>"));
        Assert.Equal([151645], Tok.Encode("<|im_end|>"));
        Assert.True(Tok.IsSpecial(151643));
        Assert.True(Tok.IsSpecial(151645));
        Assert.False(Tok.IsSpecial(9707));
        Assert.False(Tok.IsSpecial(151667));   // <think> is an added token but not a special one
    }

    [Fact]
    public void TokenTextAndBytesFollowTheByteLevelAlphabet()
    {
        Assert.Equal("Hello", Tok.TokenText(9707));
        Assert.Equal("Ġworld", Tok.TokenText(1879));
        Assert.Equal(" world"u8.ToArray(), Tok.TokenBytes(1879).ToArray());
        Assert.True(Tok.TryGetTokenId("Ġworld", out int id) && id == 1879);
        Assert.False(Tok.TryGetTokenId(" world", out _));
        Assert.True(Tok.TryGetTokenId("<|im_end|>", out id) && id == 151645);
        Assert.Equal("<|im_end|>"u8.ToArray(), Tok.TokenBytes(151645).ToArray());
        // GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves, the other 68 bytes take
        // U+0100.. in order. Every byte has a token spelled so, whose bytes are exactly that byte.
        int nextChar = 0x100;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            char spelled = printable ? (char)b : (char)nextChar++;
            Assert.True(Tok.TryGetTokenId(spelled.ToString(), out int byteId), $"byte 0x{b:X2}");
            Assert.Equal([(byte)b], Tok.TokenBytes(byteId).ToArray());
        }
    }

    [Fact]
    public void ChatMarkupEncodesToTheOracleIds()
    {
        const string chat = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n";
        int[] ids = Tok.Encode(chat);
        Assert.Equal(fx.OracleIds(chat), ids);
        Assert.Equal(151644, ids[0]);
        Assert.Equal(3, ids.Count(i => i == 151644));
        Assert.Equal(chat, Tok.Decode(ids));
    }

    [Fact]
    public void WithoutSpecialParsingControlTokensAreOrdinaryText()
    {
        // Pieces of "<|im_end|>" by the Qwen2 split: "<|" (symbols), "im" (letters), "_end" (symbol + letters), "|>".
        int[] expected = [.. fx.OracleIds("<|"), .. fx.OracleIds("im"), .. fx.OracleIds("_end"), .. fx.OracleIds("|>")];
        int[] actual = Tok.Encode("<|im_end|>", parseSpecial: false);
        Assert.Equal(expected, actual);
        Assert.DoesNotContain(151645, actual);
        Assert.Equal("<|im_end|>", Tok.Decode(actual));
    }

    [Fact]
    public void UserDefinedAddedTokensAreFoundEvenWithoutSpecialParsing()
    {
        // HF tokenizers (split_special_tokens) and llama.cpp (parse_special) both keep finding non-special added tokens.
        Assert.Equal([151667], Tok.Encode("<think>", parseSpecial: false));
        Assert.Equal(fx.OracleIds("a<think>b</think>"), Tok.Encode("a<think>b</think>"));
    }

    [Fact]
    public void LoneSurrogatesEncodeAsTheReplacementCharacter()
    {
        // The oracle refuses lone surrogates, so compare with the text where they are already U+FFFD.
        Assert.Equal(fx.OracleIds("a\uFFFDb \uFFFD"), Tok.Encode("a\uD800b \uDC00"));
        Assert.Equal(fx.OracleIds("x\uFFFD"), Tok.Encode("x\uD83D"));
    }

    [Fact]
    public void EmptyTextHasNoTokens()
    {
        Assert.Empty(Tok.Encode(""));
        Assert.Equal("", Tok.Decode([]));
    }
}

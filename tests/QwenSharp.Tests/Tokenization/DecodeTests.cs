using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Decode and the streaming decoder: lossy UTF-8 like HF's, bad ids refused, and streaming that never
/// emits half a character.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class DecodeTests(TokenizerFixture fx)
{
    private QwenTokenizer Tok => fx.Ours;

    /// <summary>The single-byte token of each byte, so a text can be fed one byte per token.</summary>
    private int[] ByteTokens(string text) =>
        Encoding.UTF8.GetBytes(text).Select(b => Tok.TryGetTokenId(BpeMergeTests.SpellByteForToy(b), out int id) ? id : -1).ToArray();

    [Fact]
    public void OutOfRangeIdsAreRefusedClearly()
    {
        var e = Assert.Throws<QwenSharpException>(() => Tok.Decode([9707, Tok.VocabSize]));
        Assert.Contains(Tok.VocabSize.ToString(), e.Message);
        Assert.Throws<QwenSharpException>(() => Tok.Decode([-1]));
        Assert.Throws<QwenSharpException>(() => Tok.TokenBytes(-5));
        Assert.Throws<QwenSharpException>(() => Tok.TokenText(int.MaxValue));
        Assert.Throws<QwenSharpException>(() => Tok.CreateStreamingDecoder().Push(Tok.VocabSize));
    }

    [Theory]
    [InlineData("中")]            // E4 B8 AD
    [InlineData("😀")]            // F0 9F 98 80
    [InlineData("é")]
    public void CharactersSplitAcrossTokensDecodeWhole(string text)
    {
        Assert.Equal(text, Tok.Decode(ByteTokens(text)));
    }

    [Fact]
    public void InvalidUtf8BecomesReplacementCharactersAsHfDoes()
    {
        int[][] cases =
        [
            ByteTokens("中")[..2],                              // truncated sequence
            [.. ByteTokens("中")[..1], .. ByteTokens("a")],    // lead byte then ASCII
            [.. ByteTokens("😀")[1..]],                         // continuation bytes alone
            [.. ByteTokens("x"), .. ByteTokens("中")[..2], .. ByteTokens("😀")[..3], .. ByteTokens("y")],
        ];
        foreach (int[] ids in cases)
        {
            Assert.Contains('\uFFFD', Tok.Decode(ids));
            Assert.Equal(fx.OracleDecode(ids), Tok.Decode(ids));
        }
        // Bytes 0xC0, 0xF5..0xFF are never valid UTF-8.
        int[] invalid = [.. Enumerable.Range(0xF5, 11).Select(b => Tok.TryGetTokenId(BpeMergeTests.SpellByteForToy((byte)b), out int id) ? id : -1)];
        Assert.Equal(fx.OracleDecode(invalid), Tok.Decode(invalid));
    }

    [Fact]
    public void StreamingByteByByteEmitsOnlyWholeCharacters()
    {
        const string text = "Grüße, 中文, 한국어, 😀👍🏽🇯🇵 and 𠀀 done";
        var decoder = Tok.CreateStreamingDecoder();
        var emitted = new StringBuilder();
        foreach (int id in ByteTokens(text))
        {
            string chunk = decoder.Push(id);
            Assert.DoesNotContain('\uFFFD', chunk);
            if (chunk.Length > 0) Assert.False(char.IsHighSurrogate(chunk[^1]), "a chunk ends inside a surrogate pair");
            emitted.Append(chunk);
        }
        emitted.Append(decoder.Flush());
        Assert.Equal(text, emitted.ToString());
    }

    [Fact]
    public void StreamingTheCorpusGivesExactlyWhatDecodeGives()
    {
        int[] ids = Tok.Encode(fx.CorpusText);
        var decoder = Tok.CreateStreamingDecoder();
        var emitted = new StringBuilder();
        foreach (int id in ids) emitted.Append(decoder.Push(id));
        emitted.Append(decoder.Flush());
        Assert.Equal(Tok.Decode(ids), emitted.ToString());
    }

    [Fact]
    public void StreamingMatchesDecodeOnInvalidBytes()
    {
        int[] ids = [.. ByteTokens("a"), .. ByteTokens("中")[..2], .. ByteTokens("b"), .. ByteTokens("😀")[2..], .. ByteTokens("😀")[..2]];
        var decoder = Tok.CreateStreamingDecoder();
        string streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(Tok.Decode(ids), streamed);
    }

    [Fact]
    public void FlushEmitsAnUnfinishedCharacterAsReplacementAndResetForgetsIt()
    {
        var decoder = Tok.CreateStreamingDecoder();
        int[] bytes = ByteTokens("中");
        Assert.Equal("", decoder.Push(bytes[0]));
        Assert.Equal("", decoder.Push(bytes[1]));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("", decoder.Flush());
        decoder.Push(bytes[0]);
        decoder.Reset();
        Assert.Equal("x", decoder.Push(ByteTokens("x")[0]));
    }

    [Fact]
    public void SpecialTokensStreamAsTheirText()
    {
        var decoder = Tok.CreateStreamingDecoder();
        Assert.Equal("<|im_end|>", decoder.Push(151645));
        Assert.Equal("<|im_end|>", Tok.Decode([151645]));
    }

    [Fact]
    public void TryPushWritesIntoTheCallersBufferWithoutAllocating()
    {
        int[] ids = Tok.Encode(fx.CorpusText);
        var decoder = Tok.CreateStreamingDecoder();
        var buffer = new char[256];
        var emitted = new StringBuilder();
        foreach (int id in ids.Take(500))   // warm up: the held-back buffer reaches its working size
        {
            Assert.True(decoder.TryPush(id, buffer, out int written));
            emitted.Append(buffer, 0, written);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        int total = 0;
        for (int i = 500; i < ids.Length; i++)
        {
            Assert.True(decoder.TryPush(ids[i], buffer, out int written));
            total += written;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(total > 1000);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void TryPushRefusesATooSmallBufferWithoutLosingAnything()
    {
        var decoder = Tok.CreateStreamingDecoder();
        int[] ids = Tok.Encode(" internationalization");
        Assert.False(decoder.TryPush(ids[0], Span<char>.Empty, out int written));
        Assert.Equal(0, written);
        var buffer = new char[64];
        var emitted = new StringBuilder();
        foreach (int id in ids)
        {
            Assert.True(decoder.TryPush(id, buffer, out written));
            emitted.Append(buffer, 0, written);
        }
        Assert.Equal(" internationalization", emitted.ToString());
    }
}

using System.Text.Json;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Building from plain lists, the way a GGUF stores a vocabulary (tokenizer.ggml.tokens / token_type /
/// merges): with the real Qwen lists it must tokenise exactly as the tokenizer.json does.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class FromVocabularyTests(TokenizerFixture fx)
{
    private static (List<string> Tokens, List<int> Types, List<string> Merges) GgufStyleLists()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.SharedTokenizerJson));
        var root = doc.RootElement;
        var byId = new SortedDictionary<int, (string Text, int Type)>();
        foreach (var entry in root.GetProperty("model").GetProperty("vocab").EnumerateObject())
            byId[entry.Value.GetInt32()] = (entry.Name, 1);
        foreach (var added in root.GetProperty("added_tokens").EnumerateArray())
            byId[added.GetProperty("id").GetInt32()] = (added.GetProperty("content").GetString()!, added.GetProperty("special").GetBoolean() ? 3 : 4);
        Assert.Equal(byId.Count - 1, byId.Keys.Last());   // no holes in the Qwen vocabulary
        var merges = root.GetProperty("model").GetProperty("merges").EnumerateArray()
            .Select(m => m[0].GetString() + " " + m[1].GetString()).ToList();
        return (byId.Values.Select(v => v.Text).ToList(), byId.Values.Select(v => v.Type).ToList(), merges);
    }

    [Fact]
    public void GgufStyleListsTokeniseLikeTheJsonFile()
    {
        var (tokens, types, merges) = GgufStyleLists();
        var tok = QwenTokenizer.FromVocabulary(tokens, types, merges);
        Assert.Equal(fx.Ours.VocabSize, tok.VocabSize);
        Assert.Equal(fx.OracleIds(fx.CorpusText), tok.Encode(fx.CorpusText));
        Assert.True(tok.IsSpecial(151645));
        Assert.False(tok.IsSpecial(151667));
    }

    [Fact]
    public void WithoutTypesTheListedSpecialIdsAreTheOnlySpecials()
    {
        var (tokens, _, merges) = GgufStyleLists();
        var tok = QwenTokenizer.FromVocabulary(tokens, null, merges, [151643, 151644, 151645]);
        Assert.Equal([151644, 9707, 151645], tok.Encode("<|im_start|>Hello<|im_end|>"));
        Assert.True(tok.IsSpecial(151644));
        Assert.False(tok.IsSpecial(151646));
        Assert.NotEqual([151667], tok.Encode("<think>"));   // a normal token now: not looked for in text
    }

    [Fact]
    public void InconsistentListsAreRefused()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => BpeMergeTests.SpellByteForToy((byte)b)).Append("ab").ToList();
        Assert.Contains("token types", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary(tokens, [1, 1], [])).Message);
        Assert.Contains("not a GGUF token type", Assert.Throws<QwenSharpException>(
            () => QwenTokenizer.FromVocabulary(tokens, Enumerable.Repeat(9, tokens.Count).ToList(), [])).Message);
        Assert.Contains("one space", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary(tokens, null, ["ab"])).Message);
        Assert.Contains("not in the vocabulary", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary(tokens, null, ["a c"])).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary(tokens, null, ["a b"], [999])).Message);
        Assert.Contains("byte 0x41", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary(tokens.Where(t => t != "A").ToList(), null, [])).Message);
        Assert.Contains("empty", Assert.Throws<QwenSharpException>(() => QwenTokenizer.FromVocabulary([], null, [])).Message);
        Assert.Equal([256], QwenTokenizer.FromVocabulary(tokens, null, ["a b"]).Encode("ab"));
    }
}

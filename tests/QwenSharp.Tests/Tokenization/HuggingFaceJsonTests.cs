using System.Text.Json.Nodes;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Loading tokenizer.json: a small hand-made file of the Qwen2 kind, and malformed or foreign files, which
/// must fail with a <see cref="ModelFileException"/> that names the file and the problem.</summary>
public sealed class HuggingFaceJsonTests : IDisposable
{
    private readonly string dir = TestPaths.NewTempDir("tokenizer-json");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A toy Qwen2-style tokenizer.json: the 256 byte tokens, "he" "ll" "hell" "hello", two added tokens.</summary>
    private static JsonObject ToyJson(bool stringMerges = false)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[BpeMergeTests.SpellByteForToy((byte)b)] = b;
        vocab["he"] = 256;
        vocab["ll"] = 257;
        vocab["hell"] = 258;
        vocab["hello"] = 259;
        string[][] merges = [["h", "e"], ["l", "l"], ["he", "ll"], ["hell", "o"]];
        var mergeArray = new JsonArray();
        foreach (var m in merges) mergeArray.Add(stringMerges ? JsonValue.Create(m[0] + " " + m[1]) : new JsonArray(m[0], m[1]));
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 260, ["content"] = "<|end|>", ["special"] = true, ["lstrip"] = false, ["rstrip"] = false, ["single_word"] = false, ["normalized"] = false },
                new JsonObject { ["id"] = 261, ["content"] = "<x>", ["special"] = false }),
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = HuggingFaceTokenizerJson.Qwen2SplitPattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel" },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["dropout"] = null, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = mergeArray },
        };
    }

    private string Write(string text)
    {
        string path = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AToyFileLoadsAndEncodes(bool stringMerges)
    {
        var tok = QwenTokenizer.FromHuggingFaceJson(Write(ToyJson(stringMerges).ToJsonString()));
        Assert.Equal(262, tok.VocabSize);
        Assert.Equal([259], tok.Encode("hello"));
        Assert.Equal([258], tok.Encode("hell"));
        Assert.Equal([256, 260, 259], tok.Encode("he<|end|>hello"));
        Assert.Equal([256, 261], tok.Encode("he<x>", parseSpecial: false));
        Assert.True(tok.IsSpecial(260));
        Assert.False(tok.IsSpecial(261));
        Assert.Equal("he<|end|>hello", tok.Decode([256, 260, 259]));
        Assert.Equal([(int)'h', 256], tok.Encode("hhe"));   // byte tokens are ids 0..255 here
    }

    [Fact]
    public void AFileThatDoesNotExistIsReported()
    {
        string path = Path.Combine(dir, "missing.json");
        var e = Assert.Throws<ModelFileException>(() => QwenTokenizer.FromHuggingFaceJson(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("cannot read", e.Message);
    }

    public static TheoryData<string, string> BrokenFiles()
    {
        string good = ToyJson().ToJsonString();
        JsonObject Mutate(Action<JsonObject> change)
        {
            var json = ToyJson();
            change(json);
            return json;
        }
        return new TheoryData<string, string>
        {
            { "{ not json", "not valid JSON" },
            { good[..(good.Length / 2)], "not valid JSON" },
            { "", "not valid JSON" },
            { "[1, 2]", "top level" },
            { Mutate(j => j.Remove("model")).ToJsonString(), "no \"model\"" },
            { Mutate(j => j["model"]!["vocab"] = new JsonArray()).ToJsonString(), "model.vocab" },
            { Mutate(j => j["model"]!["vocab"]!["he"] = -3).ToJsonString(), "non-negative integer id" },
            { Mutate(j => j["model"]!["vocab"]!["he"] = "x").ToJsonString(), "non-negative integer id" },
            { Mutate(j => j["model"]!["vocab"]!["he"] = 257).ToJsonString(), "gives id 257" },
            { Mutate(j => j["model"]!["vocab"]!.AsObject().Remove("Ġ")).ToJsonString(), "byte 0x20" },
            { Mutate(j => j["model"]!.AsObject().Remove("merges")).ToJsonString(), "model.merges" },
            { Mutate(j => j["model"]!["merges"] = new JsonArray("he")).ToJsonString(), "not two tokens" },
            { Mutate(j => j["model"]!["merges"] = new JsonArray("h  e")).ToJsonString(), "not two tokens" },
            { Mutate(j => j["model"]!["merges"] = new JsonArray(42)).ToJsonString(), "model.merges[0]" },
            { Mutate(j => j["model"]!["merges"] = new JsonArray(new JsonArray("h", "zz"))).ToJsonString(), "not in the vocabulary" },
            { Mutate(j => j["model"]!["merges"] = new JsonArray(new JsonArray("e", "h"))).ToJsonString(), "makes 'eh'" },
            { Mutate(j => j["model"]!["type"] = "WordPiece").ToJsonString(), "not BPE" },
            { Mutate(j => j["model"]!["byte_fallback"] = true).ToJsonString(), "byte_fallback" },
            { Mutate(j => j["model"]!["dropout"] = 0.1).ToJsonString(), "dropout" },
            { Mutate(j => j["added_tokens"]![0]!.AsObject().Remove("id")).ToJsonString(), "\"id\"" },
            { Mutate(j => j["added_tokens"]![0]!["content"] = "").ToJsonString(), "\"content\"" },
            { Mutate(j => j["added_tokens"]![0]!["lstrip"] = true).ToJsonString(), "lstrip" },
            { Mutate(j => j["added_tokens"]![0]!["id"] = 5).ToJsonString(), "added token 5" },
            { Mutate(j => j["normalizer"] = new JsonObject { ["type"] = "NFKC" }).ToJsonString(), "normalizer" },
            { Mutate(j => j["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["use_regex"] = true }).ToJsonString(), "pre_tokenizer" },
            { Mutate(j => j["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = "\\s+").ToJsonString(), "pre_tokenizer" },
            { Mutate(j => j["decoder"] = new JsonObject { ["type"] = "WordPiece" }).ToJsonString(), "decoder" },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void BrokenFilesAreRefusedWithTheFileAndProblemNamed(string content, string problem)
    {
        string path = Write(content);
        var e = Assert.Throws<ModelFileException>(() => QwenTokenizer.FromHuggingFaceJson(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(problem, e.Message);
    }
}

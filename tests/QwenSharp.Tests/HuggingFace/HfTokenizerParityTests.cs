using QwenSharp.Models;
using QwenSharp.Tests.Models;
using QwenSharp.Tests.Tokenization;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>The real Qwen vocabulary loaded from tokenizer.json and from vocab.json + merges.txt + tokenizer_config.json
/// (made here from the same vocabulary) must give HuggingFace tokenizers' ids on the whole multilingual corpus.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class HfTokenizerParityTests(TokenizerFixture fx)
{
    private static readonly Lazy<string> VocabMergesDir = new(() =>
    {
        // Only Qwen1.5's three added tokens go to tokenizer_config.json: later generations' extra ones (ids 151646+)
        // are left out, as a Qwen1.5 folder has them, so the texts below avoid those.
        var real = RealVocabulary.Get();
        string dir = TestPaths.NewTempDir("hf-vocab-merges");
        var qwen15 = real with
        {
            Tokens = real.Tokens.Take(151646).ToArray(),
            TokenTypes = real.TokenTypes.Take(151646).ToArray(),
        };
        HfTokenizerWriter.Write(dir, qwen15, vocabMerges: true);
        return dir;
    });

    /// <summary>Corpus lines that use no token beyond Qwen1.5's (the oracle's vocabulary is a later generation's).</summary>
    private static string[] Qwen15Lines(TokenizerFixture fx) =>
        fx.CorpusLines.Where(l => fx.OracleIds(l).All(id => id < 151646)).ToArray();

    [Fact]
    public void VocabMergesTokenizerMatchesHfOnTheCorpus()
    {
        var ours = HuggingFaceTokenizerFiles.FromFolder(VocabMergesDir.Value);
        Assert.Equal(151646, ours.VocabSize);
        var lines = Qwen15Lines(fx);
        Assert.True(lines.Length > 250);
        foreach (string line in lines) Assert.Equal(fx.OracleIds(line), ours.Encode(line));
        string text = string.Join("\n", lines);
        Assert.Equal(fx.OracleIds(text), ours.Encode(text));
    }

    [Fact]
    public void TokenizerJsonFolderMatchesHfOnTheCorpus()
    {
        string dir = TestPaths.NewTempDir("hf-tokjson");
        File.Copy(TestPaths.SharedTokenizerJson, Path.Combine(dir, "tokenizer.json"));
        var ours = HuggingFaceTokenizerFiles.FromFolder(dir);
        Assert.Equal(fx.OracleIds(fx.CorpusText), ours.Encode(fx.CorpusText));
    }

    [Fact]
    public void TokenizerConfigGivesEosPadAndTemplate()
    {
        var config = HuggingFaceTokenizerFiles.ReadConfig(Path.Combine(TestPaths.SharedTokenizerDir, "tokenizer_config.json"));
        Assert.Equal("<|im_end|>", config.EosToken);
        Assert.Equal("<|endoftext|>", config.PadToken);
        Assert.Null(config.BosToken);
        Assert.Contains("<|im_start|>", config.ChatTemplate);
        Assert.Contains((151643, "<|endoftext|>", true), config.AddedTokens);
    }

    [Fact]
    public void MalformedMergesLineIsAModelFileError()
    {
        string dir = TestPaths.NewTempDir("hf-badmerges");
        File.WriteAllText(Path.Combine(dir, "vocab.json"), "{\"a\": 0}");
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b c\n");
        var e = Assert.Throws<ModelFileException>(() => HuggingFaceTokenizerFiles.FromFolder(dir));
        Assert.EndsWith("merges.txt", e.FilePath);
    }
}

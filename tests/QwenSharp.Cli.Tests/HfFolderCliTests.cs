using static QwenSharp.Cli.Tests.QwenCli;
using QwenSharp.Tests;
using System.Runtime.InteropServices;
using System.Text.Json;
using QwenSharp.Formats;
using QwenSharp.Models;

namespace QwenSharp.Cli.Tests;

/// <summary>Every model-taking command accepts a HuggingFace folder, and `qwen convert` turns one into a GGUF file.
/// The folder is made here from a tiny synthetic F32 GGUF (HF names, [out, in] shapes, vocab.json + merges.txt), so
/// the folder and the file must give identical results.</summary>
public class HfFolderCliTests
{
    private static readonly Lazy<(string Gguf, string Folder)> Tiny = new(() =>
    {
        string dir = TestPaths.NewTempDir("hf");
        string gguf = Path.Combine(dir, "tiny.gguf");
        SyntheticQwen2.Write(gguf, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 96, LayerCount = 2, HeadCount = 4, KvHeadCount = 2, InitStd = 0.25f, TiedEmbeddings = false },
            SyntheticVocabulary.ByteLevel());
        string folder = Path.Combine(dir, "tiny-hf");
        WriteFolder(gguf, folder);
        return (gguf, folder);
    });

    private static void WriteFolder(string ggufPath, string folder)
    {
        Directory.CreateDirectory(folder);
        using var g = GgufFile.Open(ggufPath);
        var st = new SafetensorsWriter();
        foreach (var t in g.Tensors)
            st.Add(HfTensorNames.ToHf(t.Name)!, "F32", t.Dims.Reverse().ToArray(), g.GetTensorSpan(t).ToArray());
        st.Write(Path.Combine(folder, "model.safetensors"));
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = "qwen2", ["hidden_size"] = 64, ["intermediate_size"] = 96, ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["max_position_embeddings"] = 4096,
            ["rope_theta"] = 1000000.0, ["rms_norm_eps"] = 1e-6, ["vocab_size"] = g.GetTensor("token_embd.weight").Dims[1],
            ["tie_word_embeddings"] = false,
        }));
        string[] tokens = g.GetStringArray("tokenizer.ggml.tokens");
        long[] types = g.GetIntegerArray("tokenizer.ggml.token_type");
        File.WriteAllText(Path.Combine(folder, "vocab.json"),
            JsonSerializer.Serialize(Enumerable.Range(0, tokens.Length).Where(i => types[i] == 1).ToDictionary(i => tokens[i], i => i)));
        File.WriteAllLines(Path.Combine(folder, "merges.txt"), ["#version: 0.2", .. g.GetStringArray("tokenizer.ggml.merges")]);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["added_tokens_decoder"] = Enumerable.Range(0, tokens.Length).Where(i => types[i] == 3)
                .ToDictionary(i => i.ToString(), i => new Dictionary<string, object> { ["content"] = tokens[i], ["special"] = true }),
            ["eos_token"] = tokens[g.GetInteger("tokenizer.ggml.eos_token_id")],
            ["pad_token"] = tokens[g.GetInteger("tokenizer.ggml.padding_token_id")],
            ["chat_template"] = g.GetString("tokenizer.chat_template"),
        }));
        File.WriteAllText(Path.Combine(folder, "generation_config.json"), """{"do_sample": false, "eos_token_id": 302}""");
    }


    [Theory]
    [InlineData("logits", "--tokens", "1,2,300,4", "--all", "--json")]
    [InlineData("greedy", "--tokens", "1,2,300,4", "--n", "6", "--json")]
    [InlineData("tokenize", "--text", "<|im_start|>the cat and the hat", "--json")]
    public void FolderAndGgufGiveTheSameOutput(string command, params string[] rest)
    {
        var (gguf, folder) = Tiny.Value;
        var a = Qwen([command, gguf, .. rest]);
        var b = Qwen([command, folder, .. rest]);
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void ShowDescribesTheFolder()
    {
        var (code, stdout, err) = Qwen("show", Tiny.Value.Folder);
        Assert.True(code == 0, err);
        Assert.Contains("tiny-hf", stdout);
        Assert.Contains("heads / kv heads    4 / 2", stdout);
        Assert.Contains("f32 x", stdout);
    }

    [Fact]
    public void RunAnswersFromAFolderWithItsGreedyGenerationConfig()
    {
        var (code, stdout, err) = Qwen("run", Tiny.Value.Folder, "the cat", "-n", "5");
        Assert.True(code == 0, err);
        var (code2, stdout2, _) = Qwen("run", Tiny.Value.Folder, "the cat", "-n", "5");
        Assert.Equal(0, code2);
        Assert.Equal(stdout, stdout2);   // do_sample false: greedy, so the same answer without a seed
    }

    [Fact]
    public void ConvertWritesAGgufThatGivesTheFoldersLogits()
    {
        var (gguf, folder) = Tiny.Value;
        string output = Path.Combine(Path.GetDirectoryName(gguf)!, "converted-f32.gguf");
        var (code, stdout, err) = Qwen("convert", folder, "--out", output, "--type", "f32");
        Assert.True(code == 0, err);
        Assert.Contains("blk.1.ffn_down.weight", err);   // progress, one line per tensor
        Assert.Contains("tensors", stdout);
        var a = Qwen("logits", folder, "--tokens", "5,6,7", "--all", "--json");
        var b = Qwen("logits", output, "--tokens", "5,6,7", "--all", "--json");
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void QuantizeAtLoadAndConvertToQ8_0Agree()
    {
        var (gguf, folder) = Tiny.Value;
        string output = Path.Combine(Path.GetDirectoryName(gguf)!, "converted-q8_0.gguf");
        Assert.Equal(0, Qwen("convert", folder, "--out", output, "--type", "q8_0").Code);
        var (code, shown, _) = Qwen("show", output);
        Assert.Equal(0, code);
        Assert.Contains("q8_0 x", shown);
        var a = Qwen("logits", folder, "--quantize", "q8_0", "--tokens", "5,6,7", "--all", "--json");
        var b = Qwen("logits", output, "--tokens", "5,6,7", "--all", "--json");
        Assert.True(a.Code == 0, a.Err);
        Assert.Equal(a.Out, b.Out);
    }

    [Theory]
    [InlineData("--type", "q3_k", "--type must be one of")]
    [InlineData("--quantize", "q2_k", "--quantize must be")]
    public void BadTypesAreOneLineErrors(string option, string value, string expected)
    {
        var (gguf, folder) = Tiny.Value;
        var r = option == "--type"
            ? Qwen("convert", folder, "--out", Path.Combine(Path.GetDirectoryName(gguf)!, "x.gguf"), option, value)
            : Qwen("logits", folder, option, value, "--tokens", "1");
        Assert.Equal(1, r.Code);
        Assert.Contains(expected, r.Err);
    }

    [Fact]
    public void FolderWithoutConfigIsAClearError()
    {
        string empty = TestPaths.NewTempDir("empty");
        var (code, _, err) = Qwen("show", empty);
        Assert.Equal(1, code);
        Assert.Contains("without config.json", err);
    }
}

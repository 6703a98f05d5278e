using static QwenSharp.Cli.Tests.QwenCli;
using QwenSharp.Tests;
using QwenSharp.Models;

namespace QwenSharp.Cli.Tests;

/// <summary>`qwen generate --fim-prefix/--fim-suffix` and the memory plan of `qwen show`.</summary>
public class FamilyCliTests
{
    private static readonly Lazy<string> FimModel = new(() =>
    {
        string dir = TestPaths.NewTempDir("cli");
        string path = Path.Combine(dir, "tiny-fim.gguf");
        var v = SyntheticVocabulary.ByteLevel();
        string[] fim = ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"];
        v = v with { Tokens = [.. v.Tokens, .. fim], TokenTypes = [.. v.TokenTypes, .. fim.Select(_ => 3)] };
        SyntheticQwen2.Write(path, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 96, LayerCount = 2, HeadCount = 4, KvHeadCount = 2, InitStd = 0.25f, Seed = 11 }, v);
        return path;
    });


    [Fact]
    public void FimFlagsGenerateWhatTheSpelledOutFimPromptGenerates()
    {
        var (code, fim, err) = Qwen("generate", FimModel.Value, "--fim-prefix", "def add(a, b):\n    ", "--fim-suffix", "\n    return total", "-n", "12", "--temperature", "0");
        Assert.True(code == 0, err);
        var (code2, spelled, _) = Qwen("generate", FimModel.Value, "--prompt", "<fim_prefix>def add(a, b):\n    <fim_suffix>\n    return total<fim_middle>", "-n", "12", "--temperature", "0");
        Assert.Equal(0, code2);
        Assert.NotEmpty(fim.Trim());
        Assert.Equal(spelled, fim);
        var (code3, plain, _) = Qwen("generate", FimModel.Value, "--prompt", "def add(a, b):\n    \n    return total", "-n", "12", "--temperature", "0");
        Assert.Equal(0, code3);
        Assert.NotEqual(plain, fim); // the FIM tokens really are in the prompt
    }

    [Fact]
    public void FimNeedsFimTokensAndExcludesPrompt()
    {
        var (code, _, err) = Qwen("generate", FimModel.Value, "--prompt", "x", "--fim-prefix", "y", "-n", "2");
        Assert.NotEqual(0, code);
        Assert.Contains("not both", err);
        string dir = TestPaths.NewTempDir("cli");
        string plainModel = Path.Combine(dir, "plain.gguf");
        SyntheticQwen2.Write(plainModel, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 96, LayerCount = 1, HeadCount = 4, KvHeadCount = 2 }, SyntheticVocabulary.ByteLevel());
        var (code2, _, err2) = Qwen("generate", plainModel, "--fim-prefix", "a", "--fim-suffix", "b", "-n", "2");
        Assert.NotEqual(0, code2);
        Assert.Contains("no <fim_prefix> token", err2);
    }

    [Fact]
    public void ShowPrintsTheMemoryPlanAtTheContextAsked()
    {
        var (code, stdout, err) = Qwen("show", FimModel.Value, "--ctx", "1024");
        Assert.True(code == 0, err);
        using var model = Qwen2Model.Load(FimModel.Value);
        var c = model.Config;
        // 2 layers × 1024 positions × KvDim × {K, V} × 2 bytes (f16)
        long kv = 2L * 1024 * c.KvDim * 2 * 2;
        Assert.Contains("  Memory", stdout);
        Assert.Contains($"KV cache            {MemoryPlan.FormatBytes(kv)} (1024 tokens, F16)", stdout);
        Assert.Contains($"parameters          {MemoryPlan.FormatCount(c.ParameterCount(true))}", stdout);
        var (code2, stdout2, _) = Qwen("show", FimModel.Value, "--ctx", "2048", "--kv-type", "f32");
        Assert.Equal(0, code2);
        Assert.Contains($"KV cache            {MemoryPlan.FormatBytes(kv * 4)} (2048 tokens, F32)", stdout2);
    }
}

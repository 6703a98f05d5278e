using static QwenSharp.Cli.Tests.QwenCli;
using QwenSharp.Tests;
using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Cli.Tests;

/// <summary>The `qwen` command end to end, through Program.Run with in-memory streams.</summary>
public class CliTests
{
    private static readonly Lazy<string> TinyModel = new(() =>
    {
        string dir = TestPaths.NewTempDir("cli");
        string path = Path.Combine(dir, "tiny.gguf");
        SyntheticQwen2.Write(path, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 96, LayerCount = 2, HeadCount = 4, KvHeadCount = 2, InitStd = 0.25f }, SyntheticVocabulary.ByteLevel());
        return path;
    });



    [Fact]
    public void TokenizeJsonPrintsIdsOnly()
    {
        var (code, stdout, _) = Qwen("tokenize", TinyModel.Value, "--text", "<|im_start|>the cat", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        int[] ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var model = Qwen2Model.Load(TinyModel.Value);
        Assert.Equal(model.Tokenizer.Encode("<|im_start|>the cat"), ids);
        Assert.Equal(model.Special.ImStart, ids[0]);
    }

    [Fact]
    public void LogitsJsonHasOneRowOrEveryRow()
    {
        var (code, stdout, _) = Qwen("logits", TinyModel.Value, "--tokens", "1,2,3", "--json");
        Assert.Equal(0, code);
        using var last = JsonDocument.Parse(stdout);
        int vocab = last.RootElement.GetProperty("n_vocab").GetInt32();
        var rows = last.RootElement.GetProperty("logits");
        Assert.Equal(1, rows.GetArrayLength());
        Assert.Equal(vocab, rows[0].GetArrayLength());

        var (code2, stdout2, _) = Qwen("logits", TinyModel.Value, "--tokens", "1,2,3", "--all", "--json");
        Assert.Equal(0, code2);
        using var all = JsonDocument.Parse(stdout2);
        var allRows = all.RootElement.GetProperty("logits");
        Assert.Equal(3, allRows.GetArrayLength());
        // The last row of --all is the row printed without it.
        Assert.Equal(rows[0].EnumerateArray().Select(e => e.GetSingle()), allRows[2].EnumerateArray().Select(e => e.GetSingle()));
    }

    [Fact]
    public void GreedyJsonIsDeterministicAndOfTheAskedLength()
    {
        var (code, stdout, _) = Qwen("greedy", TinyModel.Value, "--tokens", "72,101,108", "--n", "12", "--json");
        Assert.Equal(0, code);
        var (_, again, _) = Qwen("greedy", TinyModel.Value, "--tokens", "72,101,108", "--n", "12", "--json", "--threads", "1");
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(12, doc.RootElement.GetProperty("ids").GetArrayLength());
        Assert.Equal(stdout, again);
    }

    [Fact]
    public void ShowDescribesTheModel()
    {
        var (code, stdout, _) = Qwen("show", TinyModel.Value);
        Assert.Equal(0, code);
        Assert.Contains("qwen2", stdout);
        Assert.Contains("embedding length    64", stdout);
        Assert.Contains("<|im_start|>", stdout);
    }

    [Fact]
    public void RunWithAPromptAnswersOnceAndGenerateCompletes()
    {
        var (code, stdout, _) = Qwen("run", TinyModel.Value, "Hello", "-n", "8", "--seed", "3");
        Assert.Equal(0, code);
        Assert.NotEmpty(stdout.Trim());
        var (code2, stdout2, _) = Qwen("generate", TinyModel.Value, "--prompt", "Once upon", "-n", "8", "--temperature", "0");
        Assert.Equal(0, code2);
        Assert.NotEmpty(stdout2.Trim());
    }

    [Fact]
    public void InteractiveChatHandlesClearAndBye()
    {
        var (code, stdout, stderr) = QwenWithInput("hi\n/clear\nhello again\n/bye\nnot read\n", "run", TinyModel.Value, "-n", "4", "--temperature", "0");
        Assert.Equal(0, code);
        Assert.Equal(5, stdout.Split(">>> ").Length); // four prompts: hi, /clear, hello again, /bye; "not read" never is
        Assert.Contains("Cleared", stderr);
    }

    [Theory]
    [InlineData("show", "/nonexistent/x.gguf")]
    [InlineData("logits", "MODEL", "--tokens", "1,x,3")]
    [InlineData("logits", "MODEL", "--tokens", "99999999")]
    [InlineData("run", "MODEL", "hi", "--top-p", "2")]
    [InlineData("run", "MODEL", "hi", "--kv-type", "q9")]
    public void ErrorsAreOneLineWithANonZeroCode(params string[] args)
    {
        args = args.Select(a => a == "MODEL" ? TinyModel.Value : a).ToArray();
        var (code, _, stderr) = Qwen(args);
        Assert.NotEqual(0, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("qwen: ", stderr);
    }

    [Fact]
    public void BadCommandLineIsExitCode2()
    {
        var (code, _, stderr) = Qwen("greedy", "--bogus");
        Assert.Equal(2, code);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void CorruptModelFileIsOneLineNamingTheFile()
    {
        string path = Path.Combine(TestPaths.NewTempDir("corrupt"), "corrupt.gguf");
        File.WriteAllBytes(path, File.ReadAllBytes(TinyModel.Value).AsSpan(0, 5000).ToArray());
        var (code, _, stderr) = Qwen("show", path);
        Assert.Equal(1, code);
        Assert.Contains(path, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void DemoIsMadeOnceAndSaysItsWeightsAreRandom()
    {
        string home = Path.Combine(TestPaths.NewTempDir("demo"), "home");
        Environment.SetEnvironmentVariable("QWEN_HOME", home);
        try
        {
            var (code, stdout, stderr) = Qwen("run", "demo", "Hello", "-n", "6");
            Assert.Equal(0, code);
            Assert.Contains("RANDOM weights", stderr);
            Assert.Contains("making the demo model", stderr);
            Assert.NotEmpty(stdout.Trim());
            var (code2, _, stderr2) = Qwen("show", "demo");
            Assert.Equal(0, code2);
            Assert.DoesNotContain("making the demo model", stderr2);
        }
        finally
        {
            Environment.SetEnvironmentVariable("QWEN_HOME", null);
        }
    }
}

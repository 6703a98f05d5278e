using static QwenSharp.Cli.Tests.QwenCli;
using QwenSharp.Tests;
using QwenSharp.Chat;
using QwenSharp.Models;

namespace QwenSharp.Cli.Tests;

/// <summary>`qwen template render` end to end through Program.Run.</summary>
public class TemplateCommandTests
{
    private static readonly string Dir = CreateDir();

    private static string CreateDir()
    {
        string dir = TestPaths.NewTempDir("template");
        return dir;
    }

    private static readonly Lazy<string> TinyModel = new(() =>
    {
        string path = Path.Combine(Dir, "tiny.gguf");
        SyntheticQwen2.Write(path, new SyntheticModelSpec { HiddenSize = 64, FeedForwardSize = 96, LayerCount = 1, HeadCount = 4, KvHeadCount = 2, InitStd = 0.25f }, SyntheticVocabulary.ByteLevel());
        return path;
    });

    private static string Write(string name, string text)
    {
        string path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }


    private const string ChatMl = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    [Fact]
    public void RendersATemplateFileAndPrintsOnlyThePrompt()
    {
        string template = Write("chatml.jinja", ChatMl);
        string messages = Write("m1.json", """[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi ü"}]""");
        var (code, stdout, stderr) = Qwen("template", "render", "--template", template, "--messages", messages);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi ü<|im_end|>\n<|im_start|>assistant\n", stdout);

        var (code2, noGen, _) = Qwen("template", "render", "--template", template, "--messages", messages, "--no-generation-prompt");
        Assert.Equal(0, code2);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi ü<|im_end|>\n", noGen);
    }

    [Fact]
    public void ToolsTokensAndVariablesReachTheTemplate()
    {
        string template = Write("tools.jinja", "{{ bos_token }}{% for t in tools %}[{{ t.function.name }} {{ t.function.parameters|tojson }}]{% endfor %}{{ messages[0].tool_calls[0].function.arguments.city }}{% if enable_thinking is false %} nothink{% endif %}{{ eos_token }}");
        string messages = Write("m2.json", """[{"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": {"city": "Zürich"}}}]}]""");
        string tools = Write("t2.json", """[{"type": "function", "function": {"name": "w", "parameters": {"type": "object", "n": 1.50}}}]""");
        var (code, stdout, stderr) = Qwen("template", "render", "--template", template, "--messages", messages, "--tools", tools,
            "--bos", "<s>", "--eos", "</s>", "--var", "enable_thinking=false");
        Assert.True(code == 0, stderr);
        Assert.Equal("<s>[w {\"type\": \"object\", \"n\": 1.5}]Zürich nothink</s>", stdout);
    }

    [Fact]
    public void UsesTheModelsOwnTemplate()
    {
        string messages = Write("m3.json", """[{"role": "user", "content": "Hello"}]""");
        var (code, stdout, stderr) = Qwen("template", "render", TinyModel.Value, "--messages", messages);
        Assert.True(code == 0, stderr);
        // The synthetic model carries Qwen1.5's template, which adds the default system prompt.
        Assert.Equal(ChatMlTemplate.Render([ChatMessage.User("Hello")]), stdout);
    }

    [Fact]
    public void ABadTemplateFailsWithLineAndColumn()
    {
        string template = Write("bad.jinja", "ok\n{% for m in messages %}\n  {{ m.role + }}\n{% endfor %}");
        string messages = Write("m4.json", "[]");
        var (code, stdout, stderr) = Qwen("template", "render", "--template", template, "--messages", messages);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("chat template error at line 3, column 15", stderr);

        string raising = Write("raise.jinja", "{{ raise_exception('System role not supported') }}");
        var (code2, _, stderr2) = Qwen("template", "render", "--template", raising, "--messages", messages);
        Assert.Equal(1, code2);
        Assert.Contains("System role not supported", stderr2);
    }

    [Fact]
    public void BadArgumentsAreOneLineErrors()
    {
        string messages = Write("m5.json", "[]");
        var (code, _, stderr) = Qwen("template", "render", "--messages", messages);
        Assert.Equal(1, code);
        Assert.Contains("give either MODEL or --template", stderr);

        var (code2, _, stderr2) = Qwen("template", "render", "--template", Path.Combine(Dir, "missing.jinja"), "--messages", messages);
        Assert.Equal(1, code2);
        Assert.Contains("file not found", stderr2);

        string template = Write("t.jinja", ChatMl);
        string notArray = Write("m6.json", """{"role": "user"}""");
        var (code3, _, stderr3) = Qwen("template", "render", "--template", template, "--messages", notArray);
        Assert.Equal(1, code3);
        Assert.Contains("expected a JSON array", stderr3);
    }
}

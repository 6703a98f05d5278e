using System.Text.Json.Nodes;
using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

/// <summary>One language feature per template (whitespace control, scoping, loop variables, macros, operators,
/// Python str/repr of values, tojson, string methods, filters, tests), each checked against what Python's jinja2
/// rendered in HF's environment (Fixtures/language_cases.json, written by make_fixtures.py).</summary>
public class JinjaLanguageTests
{
    private static readonly Lazy<JsonArray> Cases = new(() => JsonNode.Parse(File.ReadAllText(
        Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Chat", "Fixtures", "language_cases.json")))!.AsArray());

    public static TheoryData<int> CaseIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Cases.Value.Count; i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void MatchesJinja2(int index)
    {
        var c = Cases.Value[index]!.AsObject();
        string source = c["source"]!.GetValue<string>();
        var input = new ChatTemplateInput
        {
            Variables = c["vars"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone()),
        };
        string? expected = c["expected"]?.GetValue<string>();
        if (expected is null)
            Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source).Render(input));
        else
            Assert.Equal(expected, ChatTemplate.Parse(source).Render(input));
    }

    private static string Render(string source, ChatTemplateInput? input = null) =>
        ChatTemplate.Parse(source).Render(input ?? new ChatTemplateInput());

    [Fact]
    public void VariablesAreThoseHuggingFacePasses()
    {
        var input = ChatTemplateInput.FromJson("""[{"role": "user", "content": "hi"}]""") with { BosToken = "<s>", AddGenerationPrompt = false };
        Assert.Equal("<s>|user|False|None|True|False", Render("{{ bos_token }}|{{ messages[0].role }}|{{ add_generation_prompt }}|{{ tools }}|{{ tools is defined }}|{{ eos_token is defined }}", input));
    }

    [Fact]
    public void MessagesFromChatMessagesCarryToolCalls()
    {
        var call = new ToolCall("get_time", """{"zone": "UTC", "n": 1.0}""", "call_1");
        var messages = new[]
        {
            ChatMessage.User("t?"),
            new ChatMessage("assistant", "") { ToolCalls = [call, new ToolCall("f", "not json")] },
            ChatMessage.Tool("12:00", "call_1", "get_time"),
        };
        string text = Render(
            "{% for m in messages %}{{ m.role }}:{% for c in m.tool_calls %}{{ c.id }} {{ c.function.name }} {{ c.function.arguments|tojson }};{% endfor %}{{ m.tool_call_id }}{{ m.name }}|{% endfor %}",
            ChatTemplateInput.FromMessages(messages));
        // Arguments that parse as a JSON object become a mapping (1.0 stays a float); others stay the string.
        Assert.Equal("""user:|assistant:call_1 get_time {"zone": "UTC", "n": 1.0}; f "not json";|tool:call_1get_time|""", text);
    }

    [Fact]
    public void JsonElementInputKeepsIntsFloatsAndOrder()
    {
        using var doc = System.Text.Json.JsonDocument.Parse("""{"messages": [{"role": "user", "content": "x", "z": 1, "a": 1.0, "big": 12345678901234}], "tools": [{"n": true}]}""");
        var input = ChatTemplateInput.FromJson(doc.RootElement.GetProperty("messages"), doc.RootElement.GetProperty("tools"));
        Assert.Equal("""{"role": "user", "content": "x", "z": 1, "a": 1.0, "big": 12345678901234}|[{'n': True}]""", Render("{{ messages[0]|tojson }}|{{ tools }}", input));
        Assert.Throws<QwenSharpException>(() => ChatTemplateInput.FromJson(doc.RootElement));
    }

    [Fact]
    public void StrftimeNowUsesTheGivenTime()
    {
        var input = new ChatTemplateInput { Now = new DateTime(2024, 7, 6, 15, 4, 5) };
        Assert.Equal("06 Jul 2024 15:04:05 PM Saturday 7/6", Render("{{ strftime_now('%d %b %Y %H:%M:%S %p %A %-m/%-d') }}", input));
    }
}

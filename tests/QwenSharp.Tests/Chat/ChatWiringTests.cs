using System.Text.Json.Nodes;
using QwenSharp.Chat;
using QwenSharp.Models;
using QwenSharp.Tests.Models;

namespace QwenSharp.Tests.Chat;

/// <summary>The pieces the server and the M.E.AI client use: the per-model template renderer, the Qwen tool-call
/// parser behind IToolCallParser, and the stream hold-back that keeps call markup out of streamed text.</summary>
public class ChatWiringTests
{
    [Fact]
    public void ModelTemplateRendererUsesTheModelsTemplateOnceParsedAndPassesTools()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        var renderer = new ModelTemplateRenderer();
        ChatMessage[] conversation = [ChatMessage.User("Hi")];
        // the synthetic model's template is Qwen1.5's ChatML (which has no place for tools)
        Assert.Equal(ChatMlTemplate.Render(conversation), renderer.Render(model, conversation, true, """[{"type":"function","function":{"name":"f"}}]"""));
        Assert.Same(renderer.FormatterFor(model), renderer.FormatterFor(model));
        Assert.True(renderer.FormatterFor(model).UsesModelTemplate);
        Assert.Throws<QwenSharpException>(() => renderer.Render(model, conversation, true, "{\"not\":\"an array\"}"));
        Assert.Throws<QwenSharpException>(() => renderer.Render(model, conversation, true, "[oops"));
    }

    [Fact]
    public void QwenToolCallParserFindsCallsAndLeavesText()
    {
        var parser = QwenToolCallParser.Instance;
        Assert.True(parser.TryParse("Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>", out var calls, out string rest));
        Assert.Equal("Sure.", rest);
        Assert.Equal(new ToolCall("f", "{\"a\": 1}"), Assert.Single(calls));
        Assert.False(parser.TryParse("no calls here", out calls, out rest));
        Assert.Empty(calls);
    }

    [Theory]
    [InlineData("plain text", 10)]
    [InlineData("text <", 5)]
    [InlineData("text <tool_", 5)]
    [InlineData("text <tool_call", 5)]
    [InlineData("text <tool_call>{\"na", 5)]
    [InlineData("a < b", 5)]
    [InlineData("<tool_x", 7)]
    [InlineData("", 0)]
    public void StreamingHoldsBackWhatMayBecomeACall(string partial, int streamable) =>
        Assert.Equal(streamable, QwenToolCallParser.Instance.StreamableLength(partial));

    [Fact]
    public void HoldBackStreamsTextAndReturnsTheCallsAtTheEnd()
    {
        var hold = new ToolCallHoldBack(QwenToolCallParser.Instance);
        string reply = "Let me check. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        var sent = new System.Text.StringBuilder();
        // one character at a time: the worst split for the tag
        foreach (char c in reply) sent.Append(hold.Add(c.ToString()));
        Assert.Equal("Let me check. ", sent.ToString());
        var (text, calls) = hold.Finish();
        Assert.Equal("", text);
        Assert.Equal(new ToolCall("get_weather", "{\"city\": \"Paris\"}"), Assert.Single(calls));

        // a "<" that never becomes a call is sent at the end; nothing is lost
        var plain = new ToolCallHoldBack(QwenToolCallParser.Instance);
        string streamed = plain.Add("x <") + plain.Add("tool");
        Assert.Equal("x ", streamed);
        var (tail, none) = plain.Finish();
        Assert.Equal("<tool", tail);
        Assert.Empty(none);
    }

    [Fact]
    public void ToolCallMessagesReachTheTemplateAsOpenAiJson()
    {
        var f = ChatPromptFormatter.FromTemplate(
            "{% for m in messages %}{{ m.role }}:{% for c in m.tool_calls %}{{ c.id }}={{ c.function.name }}{{ c.function.arguments | tojson }}{% endfor %}{{ m.tool_call_id }}{{ m.name }}|{% endfor %}");
        ChatMessage[] messages =
        [
            ChatMessage.Assistant("") with { ToolCalls = [new ToolCall("f", "{\"a\":1}", "call_9")] },
            ChatMessage.Tool("42", "call_9", "f"),
        ];
        Assert.Equal("assistant:call_9=f{\"a\": 1}|tool:call_9f|", f.Format(messages, addGenerationPrompt: false, tools: (IEnumerable<JsonNode>?)null));
    }
}

using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

public class ToolCallParserTests
{
    [Fact]
    public void TextWithoutCallsIsUnchanged()
    {
        var r = ToolCallParser.Parse("  Just an answer.\n");
        Assert.Empty(r.ToolCalls);
        Assert.Equal("  Just an answer.\n", r.Content);
    }

    [Fact]
    public void ExtractsQwenStyleCallsAndKeepsTheRest()
    {
        string text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n"
                      + "<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>";
        var r = ToolCallParser.Parse(text);
        Assert.Equal("Let me check.", r.Content);
        Assert.Equal(2, r.ToolCalls.Count);
        Assert.Equal(new ToolCall("get_weather", "{\"city\": \"Paris\", \"days\": 2}"), r.ToolCalls[0]);
        Assert.Equal(new ToolCall("get_time", "{}"), r.ToolCalls[1]);
    }

    [Fact]
    public void ToleratesWhitespaceAndStringArguments()
    {
        var r = ToolCallParser.Parse("<tool_call> \t\r\n {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1}\"} \n\n</tool_call>");
        Assert.Equal("", r.Content);
        Assert.Equal(new ToolCall("f", "{\"x\": 1}"), Assert.Single(r.ToolCalls));
        var p = ToolCallParser.Parse("<tool_call>{\"name\": \"g\", \"parameters\": {\"y\": [1]}}</tool_call><tool_call>{\"name\": \"h\"}</tool_call>");
        Assert.Equal([new ToolCall("g", "{\"y\": [1]}"), new ToolCall("h", "{}")], p.ToolCalls);
    }

    [Theory]
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": {</tool_call>")]            // malformed JSON
    [InlineData("<tool_call>{\"arguments\": {}}</tool_call>")]                           // no name
    [InlineData("<tool_call>{\"name\": 3}</tool_call>")]                                 // name not a string
    [InlineData("<tool_call>[\"f\"]</tool_call>")]                                       // not an object
    [InlineData("<tool_call>{\"name\": \"f\", \"arguments\": 5}</tool_call>")]             // arguments not an object
    [InlineData("Text <tool_call>{\"name\": \"f\", \"arguments\": {}}")]                 // never closed
    public void MalformedBlocksStayAsText(string text)
    {
        var r = ToolCallParser.Parse(text);
        Assert.Empty(r.ToolCalls);
        Assert.Equal(text, r.Content);
    }

    [Fact]
    public void AGoodCallBesideABadOneIsTakenAndTheBadOneKept()
    {
        string bad = "<tool_call>{oops}</tool_call>";
        var r = ToolCallParser.Parse("A " + bad + " B <tool_call>{\"name\": \"ok\", \"arguments\": {}}</tool_call> C");
        Assert.Equal("A " + bad + " B  C", r.Content);
        Assert.Equal("ok", Assert.Single(r.ToolCalls).Name);
        Assert.True(ToolCallParser.MayContainCall("x <tool_call>"));
        Assert.False(ToolCallParser.MayContainCall("x <tool"));
    }
}

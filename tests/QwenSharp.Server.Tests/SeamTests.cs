using System.Net;
using System.Text.Json;
using QwenSharp.Chat;
using QwenSharp.Models;

namespace QwenSharp.Server.Tests;

/// <summary>The chat renderer and tool-call parser are seams another component fills (a model's own Jinja template and
/// its tool-call format); the server must route through them.</summary>
public class SeamTests
{
    /// <summary>Renders every conversation as its last message only, raw, and records the tools it was given.</summary>
    private sealed class LastMessageRenderer : IChatPromptRenderer
    {
        public string? LastTools;
        public string Render(Qwen2Model model, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? toolsJson = null)
        {
            LastTools = toolsJson;
            return messages[^1].Content;
        }
    }

    /// <summary>Reads every reply as one call of "lookup" with the reply as its argument.</summary>
    private sealed class EverythingIsACall : IToolCallParser
    {
        public bool TryParse(string reply, out IReadOnlyList<ToolCall> calls, out string remainingText)
        {
            calls = [new ToolCall("lookup", JsonSerializer.Serialize(new { q = reply }), "call_1")];
            remainingText = "";
            return true;
        }
    }

    [Fact]
    public async Task TheConfiguredRendererAndToolParserAreUsed()
    {
        var renderer = new LastMessageRenderer();
        await using var s = await TestServer.StartAsync(o => o with { ChatRenderer = renderer, ToolCallParser = new EverythingIsACall() });
        string tools = """[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]""";
        string body = """{"model":"MODEL","messages":[{"role":"system","content":"ignored"},{"role":"user","content":"just this"}],"max_tokens":3,"temperature":0,"tools":TOOLS}"""
            .Replace("MODEL", TestModels.Name).Replace("TOOLS", tools);
        var r = await s.PostJson("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var json = await TestServer.JsonOf(r);

        // the prompt was exactly the renderer's text
        using var model = Qwen2Model.Load(Path.Combine(TestModels.Dir, TestModels.Name + ".gguf"));
        Assert.Equal(model.Tokenizer.Encode("just this").Length, json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(JsonDocument.Parse(tools).RootElement.GetRawText(), JsonDocument.Parse(renderer.LastTools!).RootElement.GetRawText());

        var choice = json.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var call = choice.GetProperty("message").GetProperty("tool_calls")[0];
        Assert.Equal("function", call.GetProperty("type").GetString());
        Assert.Equal("lookup", call.GetProperty("function").GetProperty("name").GetString());
        Assert.True(JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!).RootElement.TryGetProperty("q", out _));

        // Ollama's chat gives the same call with its arguments as an object
        var ollama = await TestServer.JsonOf(await s.PostJson("/api/chat", """{"model":"MODEL","stream":false,"messages":[{"role":"user","content":"x"}],"tools":TOOLS,"options":{"num_predict":2}}""".Replace("MODEL", TestModels.Name).Replace("TOOLS", tools)));
        var ollamaCall = ollama.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal("lookup", ollamaCall.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Object, ollamaCall.GetProperty("arguments").ValueKind);

        // without tools in the request, replies stay text
        var plain = await TestServer.JsonOf(await s.PostJson("/v1/chat/completions", body.Replace(",\"tools\":" + tools, "")));
        Assert.Equal("length", plain.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Null(renderer.LastTools);
    }
}

using System.Text.Json;
using OllamaSharp;
using OllamaSharp.Models.Chat;
using QwenSharp.Chat;

namespace QwenSharp.Server.Tests;

/// <summary>OllamaSharp with tools: the history's tool calls and results reach the template, and a Qwen-style
/// call in the reply comes back as message.tool_calls with an object for the arguments.</summary>
public class OllamaToolCallingTests
{
    [Fact]
    public async Task OllamaSharpSendsToolsAndHistoryAndGetsTheToolCall()
    {
        var recorder = new RecordingRenderer(ModelTemplateRenderer.Instance);
        await using var s = await TestServer.StartAsync(o => o with
        {
            ModelsDirectory = ToolModels.Dir, ChatRenderer = recorder, ToolCallParser = new ForcedCallParser(ToolModels.CallReply),
        });
        using var ollama = new OllamaApiClient(s.BaseUri, ToolModels.Tools);
        var tool = new Tool
        {
            Function = new Function
            {
                Name = "get_weather", Description = "Current weather for a city",
                Parameters = new Parameters
                {
                    Type = "object", Properties = new Dictionary<string, Property> { ["city"] = new() { Type = "string" } }, Required = ["city"],
                },
            },
        };
        var request = new ChatRequest
        {
            Model = ToolModels.Tools,
            Messages =
            [
                new Message(ChatRole.System, "You are terse."),
                new Message(ChatRole.User, "Weather in Paris?"),
                new Message(ChatRole.Assistant, "")
                {
                    ToolCalls = [new Message.ToolCall { Function = new Message.Function { Name = "get_weather", Arguments = new Dictionary<string, object?> { ["city"] = "Paris" } } }],
                },
                new Message(ChatRole.Tool, "sunny, 21 C") { ToolName = "get_weather" },
                new Message(ChatRole.User, "And tomorrow?"),
            ],
            Tools = [tool],
            Options = new OllamaSharp.Models.RequestOptions { NumPredict = 3, Temperature = 0 },
            Stream = true,
        };

        var text = new System.Text.StringBuilder();
        var calls = new List<Message.ToolCall>();
        ChatDoneResponseStream? done = null;
        await foreach (var chunk in ollama.ChatAsync(request))
        {
            text.Append(chunk?.Message.Content);
            calls.AddRange(chunk?.Message.ToolCalls ?? []);
            if (chunk is ChatDoneResponseStream d) done = d;
        }
        string prompt = ToolCallingTests.AssertToolPrompt(recorder, exactParameters: false);
        Assert.NotNull(done);
        Assert.Equal(ToolCallingTests.TokenCount(ToolModels.Tools, prompt), done!.PromptEvalCount);
        Assert.Equal("", text.ToString());
        var call = Assert.Single(calls);
        Assert.Equal("get_weather", call.Function!.Name);
        Assert.Equal("Paris", Assert.IsType<JsonElement>(call.Function.Arguments!["city"]).GetString());

        // not streamed: the same call on the final message
        request.Stream = false;
        var whole = new List<Message.ToolCall>();
        await foreach (var chunk in ollama.ChatAsync(request)) whole.AddRange(chunk?.Message.ToolCalls ?? []);
        ToolCallingTests.AssertToolPrompt(recorder, exactParameters: false);
        Assert.Equal("get_weather", Assert.Single(whole).Function!.Name);
    }
}

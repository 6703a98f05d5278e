using System.Text.Json;
using Microsoft.Extensions.AI;
using QwenSharp.Chat;
using QwenSharp.Extensions.AI;
using QwenSharp.Generation;
using QwenSharp.Models;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace QwenSharp.Server.Tests;

/// <summary>Function calling through QwenChatClient: AIFunctions become the template's tools, a Qwen-style call
/// comes back as FunctionCallContent, and the call with its result goes back into the next prompt.</summary>
public class ExtensionsAiToolTests
{
    [Fact]
    public async Task FunctionCallContentRoundTrips()
    {
        using var model = Qwen2Model.Load(ToolModels.PathOf(ToolModels.Tools));
        using var scheduler = new BatchScheduler(model, new BatchSchedulerOptions { Parallel = 2, ContextLength = 512, MaxBatch = 128, Threads = 1 });
        var recorder = new RecordingRenderer(ModelTemplateRenderer.Instance);
        using IChatClient client = new QwenChatClient(scheduler, recorder, toolCallParser: new ForcedCallParser(ToolModels.CallReply));
        var weather = AIFunctionFactory.Create((string city) => "sunny, 21 C", "get_weather", "Current weather for a city");
        var options = new ChatOptions { Tools = [weather], MaxOutputTokens = 3, Temperature = 0 };
        List<AiChatMessage> history = [new(ChatRole.System, "You are terse."), new(ChatRole.User, "Weather in Paris?")];

        var response = await client.GetResponseAsync(history, options);
        Assert.True(recorder.Seen.TryDequeue(out var first));
        Assert.Contains("\"name\": \"get_weather\"", first.Prompt);
        Assert.Contains("\"description\": \"Current weather for a city\"", first.Prompt);
        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Messages[0].Contents.OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", Assert.IsType<JsonElement>(call.Arguments!["city"]).GetString());
        Assert.False(string.IsNullOrEmpty(call.CallId));

        // the call and its result go back in, as FunctionInvokingChatClient sends them
        history.Add(new AiChatMessage(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]));
        history.Add(new AiChatMessage(ChatRole.Tool, [new FunctionResultContent("call_1", "sunny, 21 C")]));
        history.Add(new AiChatMessage(ChatRole.User, "And tomorrow?"));
        await client.GetResponseAsync(history, options);
        ToolCallingTests.AssertToolPrompt(recorder, exactParameters: false);

        // streamed: the call arrives whole in the last update, with finish reason ToolCalls
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(history, options)) updates.Add(update);
        ToolCallingTests.AssertToolPrompt(recorder, exactParameters: false);
        Assert.Equal("", string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
        Assert.Equal("get_weather", Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>()).Name);

        // without tools the reply is text, even with the same parser
        var plain = await client.GetResponseAsync("Hello", new ChatOptions { MaxOutputTokens = 2 });
        Assert.Empty(plain.Messages[0].Contents.OfType<FunctionCallContent>());
        Assert.Equal(ChatFinishReason.Length, plain.FinishReason);
    }
}

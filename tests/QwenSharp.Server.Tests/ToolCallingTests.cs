using System.ClientModel;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using QwenSharp.Chat;
using QwenSharp.Models;
using OaiMessage = OpenAI.Chat.ChatMessage;
using OaiFinish = OpenAI.Chat.ChatFinishReason;
using QwenMessage = QwenSharp.Chat.ChatMessage;

namespace QwenSharp.Server.Tests;

/// <summary>The model's own template (with tools) renders the prompt on both APIs, and Qwen-style tool calls in a
/// reply reach real OpenAI and Ollama clients as tool calls.</summary>
public class ToolCallingTests
{
    /// <summary>The conversation every test sends: a call, its result, and a follow-up question.</summary>
    internal static readonly QwenMessage[] Conversation =
    [
        QwenMessage.System("You are terse."),
        QwenMessage.User("Weather in Paris?"),
        QwenMessage.Assistant("") with { ToolCalls = [new ToolCall("get_weather", """{"city":"Paris"}""", "call_1")] },
        QwenMessage.Tool("sunny, 21 C", "call_1"),
        QwenMessage.User("And tomorrow?"),
    ];

    /// <summary>Checks a prompt rendered by the server: exactly the formatter's rendering of
    /// <see cref="Conversation"/> with the tools the server was given, and, read by eye from Qwen's template, with the
    /// tool list, the earlier call and its result in Qwen's markup.</summary>
    internal static string AssertToolPrompt(RecordingRenderer recorder, bool exactParameters = true)
    {
        Assert.True(recorder.Seen.TryDequeue(out var seen));
        Assert.NotNull(seen.Tools);
        var tools = JsonNode.Parse(seen.Tools!)!.AsArray();
        var function = Assert.Single(tools)!["function"]!;
        Assert.Equal("get_weather", (string?)function["name"]);
        if (exactParameters) Assert.True(JsonNode.DeepEquals(JsonNode.Parse(ToolModels.WeatherParameters), function["parameters"]));
        else Assert.Equal("string", (string?)function["parameters"]!["properties"]!["city"]!["type"]);

        string expected = ChatPromptFormatter.FromTemplate(ToolModels.Template).Format(Conversation, true, tools.Select(t => t!));
        Assert.Equal(expected, seen.Prompt);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {", seen.Prompt);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>", seen.Prompt);
        Assert.Contains("<|im_start|>user\n<tool_response>\nsunny, 21 C\n</tool_response><|im_end|>", seen.Prompt);
        Assert.EndsWith("<|im_start|>user\nAnd tomorrow?<|im_end|>\n<|im_start|>assistant\n", seen.Prompt);
        return expected;
    }

    internal static int TokenCount(string name, string prompt)
    {
        using var model = Qwen2Model.Load(ToolModels.PathOf(name));
        return model.Tokenizer.Encode(prompt, parseSpecial: true).Length;
    }

    [Fact]
    public void TheDefaultsAreTheModelTemplateAndQwenToolCalls()
    {
        var options = new ServerOptions();
        Assert.IsType<ModelTemplateRenderer>(options.ChatRenderer);
        Assert.IsType<QwenToolCallParser>(options.ToolCallParser);
    }

    [Fact]
    public async Task OpenAiSdkSendsToolsAndHistoryAndGetsTheToolCall()
    {
        var recorder = new RecordingRenderer(ModelTemplateRenderer.Instance);
        await using var s = await TestServer.StartAsync(o => o with
        {
            ModelsDirectory = ToolModels.Dir, ChatRenderer = recorder, ToolCallParser = new ForcedCallParser(ToolModels.CallReply),
        });
        var chat = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(s.BaseUri, "/v1") })
            .GetChatClient(ToolModels.Tools);
        OaiMessage[] messages =
        [
            new SystemChatMessage("You are terse."),
            new UserChatMessage("Weather in Paris?"),
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("call_1", "get_weather", BinaryData.FromString("""{"city":"Paris"}"""))]),
            new ToolChatMessage("call_1", "sunny, 21 C"),
            new UserChatMessage("And tomorrow?"),
        ];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 3, Temperature = 0 };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Current weather for a city", BinaryData.FromString(ToolModels.WeatherParameters)));

        ChatCompletion completion = await chat.CompleteChatAsync(messages, options);
        string prompt = AssertToolPrompt(recorder);
        Assert.Equal(TokenCount(ToolModels.Tools, prompt), completion.Usage.InputTokenCount);
        Assert.Equal(OaiFinish.ToolCalls, completion.FinishReason);
        Assert.Empty(completion.Content);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement.GetProperty("city").GetString());

        // tool_choice "none": the tools are still shown to the template, but the reply is text
        var none = new ChatCompletionOptions { MaxOutputTokenCount = 3, Temperature = 0, ToolChoice = ChatToolChoice.CreateNoneChoice() };
        none.Tools.Add(options.Tools[0]);
        ChatCompletion text0 = await chat.CompleteChatAsync(messages, none);
        AssertToolPrompt(recorder);
        Assert.Empty(text0.ToolCalls);
        Assert.Equal(OaiFinish.Length, text0.FinishReason);

        // streaming: no text (it is all held back), then the whole call, then finish_reason tool_calls
        var text = new System.Text.StringBuilder();
        var updates = new List<StreamingChatToolCallUpdate>();
        OaiFinish? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            updates.AddRange(update.ToolCallUpdates);
            finish ??= update.FinishReason;
        }
        AssertToolPrompt(recorder);
        Assert.Equal("", text.ToString());
        Assert.Equal(OaiFinish.ToolCalls, finish);
        var streamed = Assert.Single(updates);
        Assert.Equal(0, streamed.Index);
        Assert.Equal("get_weather", streamed.FunctionName);
        Assert.StartsWith("call_", streamed.ToolCallId);
        Assert.Equal("Paris", JsonDocument.Parse(streamed.FunctionArgumentsUpdate.ToString()).RootElement.GetProperty("city").GetString());
    }

    [Fact]
    public async Task ByDefaultTheModelTemplateRendersAndATemplateErrorIsA400OnBothApis()
    {
        await using var s = await TestServer.StartAsync(o => o with { ModelsDirectory = ToolModels.Dir });
        string tools = """[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":PARAMS}}]"""
            .Replace("PARAMS", ToolModels.WeatherParameters);
        string body = """{"model":"tools-chat","max_tokens":2,"temperature":0,"tools":TOOLS,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny, 21 C"},{"role":"user","content":"And tomorrow?"}]}"""
            .Replace("TOOLS", tools);
        var r = await s.PostJson("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        string expected = ChatPromptFormatter.FromTemplate(ToolModels.Template).Format(Conversation, true, JsonNode.Parse(tools)!.AsArray().Select(t => t!));
        Assert.Equal(TokenCount(ToolModels.Tools, expected), (await TestServer.JsonOf(r)).GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        // "strict-chat"'s template refuses a conversation that starts with the assistant
        var openAi = await s.PostJson("/v1/chat/completions", """{"model":"strict-chat","messages":[{"role":"assistant","content":"hi"}],"max_tokens":2}""");
        Assert.Equal(HttpStatusCode.BadRequest, openAi.StatusCode);
        var error = (await TestServer.JsonOf(openAi)).GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains("Conversation roles must start with user or system", error.GetProperty("message").GetString());

        foreach (bool stream in new[] { false, true })
        {
            var ollama = await s.PostJson("/api/chat", $$"""{"model":"strict-chat","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"assistant","content":"hi"}]}""");
            Assert.Equal(HttpStatusCode.BadRequest, ollama.StatusCode);
            Assert.Contains("Conversation roles must start with user or system", (await TestServer.JsonOf(ollama)).GetProperty("error").GetString());
        }
        // like Ollama, /api/show lists "tools" for a model whose template renders tools
        string Capabilities(JsonElement show) => string.Join(",", show.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()));
        Assert.Contains("tools", Capabilities(await TestServer.JsonOf(await s.PostJson("/api/show", """{"model":"tools-chat"}"""))));
        Assert.DoesNotContain("tools", Capabilities(await TestServer.JsonOf(await s.PostJson("/api/show", """{"model":"strict-chat"}"""))));

        // the same model renders a conversation it accepts
        var ok = await s.PostJson("/api/chat", """{"model":"strict-chat","stream":false,"messages":[{"role":"user","content":"hi"}],"options":{"num_predict":1}}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}

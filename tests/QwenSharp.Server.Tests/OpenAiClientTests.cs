using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OaiMessage = OpenAI.Chat.ChatMessage;
using OaiFinish = OpenAI.Chat.ChatFinishReason;

namespace QwenSharp.Server.Tests;

/// <summary>The official OpenAI .NET SDK, and Microsoft.Extensions.AI's IChatClient over it, against the server.</summary>
[Collection(SharedServerCollection.Name)]
public class OpenAiClientTests(SharedServer shared)
{
    private TestServer S => shared.Server;

    private OpenAIClient Client() =>
        new(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(S.BaseUri, "/v1") });

    private static ChatCompletionOptions Seeded(long seed, int max) => new()
    {
#pragma warning disable OPENAI001 // Seed is marked experimental
        Seed = seed,
#pragma warning restore OPENAI001
        MaxOutputTokenCount = max, Temperature = 0.9f,
    };

    [Fact]
    public async Task ChatAndStreamingChatGiveTheSameSeededText()
    {
        var chat = Client().GetChatClient(TestModels.Name);
        OaiMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Say something")];
        ChatCompletion completion = await chat.CompleteChatAsync(messages, Seeded(9, 10));
        Assert.Equal(OaiFinish.Length, completion.FinishReason);
        Assert.Equal(10, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        string text = completion.Content[0].Text;
        Assert.False(string.IsNullOrEmpty(text));

        var streamed = new System.Text.StringBuilder();
        OaiFinish? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Seeded(9, 10)))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(OaiFinish.Length, finish);
    }

    [Fact]
    public async Task ListsModels()
    {
        var models = (await Client().GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Contains(models, m => m.Id == TestModels.Name && m.OwnedBy == "qwensharp");
        var one = (await Client().GetOpenAIModelClient().GetModelAsync(TestModels.Name)).Value;
        Assert.Equal(TestModels.Name, one.Id);
    }

    [Fact]
    public async Task MicrosoftExtensionsAiChatClientOverTheOpenAiSdk()
    {
        IChatClient client = Client().GetChatClient(TestModels.Name).AsIChatClient();
        var options = new ChatOptions { Seed = 4, MaxOutputTokens = 8, Temperature = 0.8f };
        var response = await client.GetResponseAsync("Hello there", options);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(8, response.Usage?.OutputTokenCount);
        Assert.False(string.IsNullOrEmpty(response.Text));

        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync("Hello there", options)) streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }
}

using System.Text.Json;
using OllamaSharp;
using OllamaSharp.Models;
using OllamaSharp.Models.Chat;

namespace QwenSharp.Server.Tests;

/// <summary>OllamaSharp, a real Ollama client, against the server.</summary>
[Collection(SharedServerCollection.Name)]
public class OllamaClientTests(SharedServer shared)
{
    private TestServer S => shared.Server;
    private OllamaApiClient Client() => new(S.BaseUri, TestModels.Name);

    [Fact]
    public async Task ListsAndShowsTheModelsInTheFolder()
    {
        using var ollama = Client();
        var models = (await ollama.ListLocalModelsAsync()).ToList();
        var model = Assert.Single(models);
        Assert.Equal(TestModels.Name + ":latest", model.Name);
        Assert.True(model.Size > 1_000_000);
        Assert.Equal(64, model.Digest.Length);

        var show = await ollama.ShowModelAsync(new ShowModelRequest { Model = TestModels.Name + ":latest" });
        Assert.Equal("qwen2", show.Details.Family);
        Assert.Equal("Q8_0", show.Details.QuantizationLevel);
        Assert.Equal("qwen2", show.Info.Architecture);
        Assert.Contains("<|im_start|>", show.Template);
        Assert.True(await ollama.IsRunningAsync());
        Assert.Equal("0.12.0", (await ollama.GetVersionAsync()).ToString());
    }

    [Fact]
    public async Task StreamingChatEndsWithTheTimingsAndCounts()
    {
        using var ollama = Client();
        var request = new ChatRequest
        {
            Model = TestModels.Name,
            Messages = [new Message(ChatRole.User, "Tell me a story")],
            Options = new RequestOptions { Seed = 5, NumPredict = 12, Temperature = 0.9f },
            Stream = true,
        };
        var text = new System.Text.StringBuilder();
        ChatDoneResponseStream? done = null;
        int chunks = 0;
        await foreach (var chunk in ollama.ChatAsync(request))
        {
            chunks++;
            text.Append(chunk?.Message.Content);
            if (chunk is ChatDoneResponseStream d) done = d;
        }
        Assert.NotNull(done);
        Assert.Equal("length", done!.DoneReason);
        Assert.Equal(12, done.EvalCount);
        Assert.True(done.PromptEvalCount > 10);
        Assert.True(done.TotalDuration > 0 && done.EvalDuration > 0 && done.PromptEvalDuration > 0);
        Assert.True(done.TotalDuration >= done.EvalDuration);
        Assert.True(chunks > 2);
        Assert.True(text.Length > 0);

        // the same seed gives the same text, also without streaming
        using var http = new HttpClient { BaseAddress = S.BaseUri };
        var once = await S.PostJson("/api/chat", JsonSerializer.Serialize(new
        {
            model = TestModels.Name, stream = false, messages = new[] { new { role = "user", content = "Tell me a story" } },
            options = new { seed = 5, num_predict = 12, temperature = 0.9 },
        }));
        var body = await TestServer.JsonOf(once);
        Assert.Equal(text.ToString(), body.GetProperty("message").GetProperty("content").GetString());
        Assert.True(body.GetProperty("done").GetBoolean());
    }

    [Fact]
    public async Task StreamingGenerateReturnsTheContextForTheNextTurn()
    {
        using var ollama = Client();
        var request = new GenerateRequest
        {
            Model = TestModels.Name, Prompt = "The capital of France is", Raw = true, Stream = true,
            Options = new RequestOptions { Seed = 3, NumPredict = 6, Temperature = 0.7f },
        };
        var text = new System.Text.StringBuilder();
        GenerateDoneResponseStream? done = null;
        await foreach (var chunk in ollama.GenerateAsync(request))
        {
            text.Append(chunk?.Response);
            if (chunk is GenerateDoneResponseStream d) done = d;
        }
        Assert.NotNull(done);
        Assert.Equal(6, done!.EvalCount);
#pragma warning disable CS0618 // context is deprecated by Ollama but still sent, and clients still read it
        Assert.Equal(done.PromptEvalCount + 6, done.Context!.Length);
#pragma warning restore CS0618
        Assert.True(text.Length > 0);
    }

    [Fact]
    public async Task EmbedReturnsUnitVectors()
    {
        using var ollama = Client();
        var result = await ollama.EmbedAsync(new EmbedRequest { Model = TestModels.Name, Input = ["hello world", "something else entirely"] });
        Assert.Equal(2, result.Embeddings.Count);
        foreach (var v in result.Embeddings)
        {
            Assert.Equal(64, v.Length);
            Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 4);
        }
        Assert.NotEqual(result.Embeddings[0], result.Embeddings[1]);
    }
}

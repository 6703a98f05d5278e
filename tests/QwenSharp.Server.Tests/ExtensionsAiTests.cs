using Microsoft.Extensions.AI;
using QwenSharp.Extensions.AI;
using QwenSharp.Generation;

namespace QwenSharp.Server.Tests;

/// <summary>The in-process Microsoft.Extensions.AI faces: same engine, no HTTP.</summary>
public class ExtensionsAiTests
{
    private static string ModelPath => Path.Combine(TestModels.Dir, TestModels.Name + ".gguf");
    private static BatchSchedulerOptions Small => new() { Parallel = 8, ContextLength = 256, MaxBatch = 64, Threads = 1 };

    [Fact]
    public async Task ResponsesStreamAndRunConcurrentlyWithTheSameSeededText()
    {
        using IChatClient client = QwenChatClient.Open(ModelPath, Small);
        ChatOptions Options(int i) => new() { Seed = 40 + i, MaxOutputTokens = 6 + i % 3, Temperature = 0.9f };
        string Prompt(int i) => $"Question {i}: what is {i} plus {i}?";

        var response = await client.GetResponseAsync(Prompt(0), Options(0));
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(6, response.Usage!.OutputTokenCount);
        Assert.True(response.Usage.InputTokenCount > 10);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);

        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        await foreach (var update in client.GetStreamingResponseAsync(Prompt(0), Options(0)))
        {
            streamed.Append(update.Text);
            finish ??= update.FinishReason;
            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }
        Assert.Equal(response.Text, streamed.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.Equal(6, usage!.OutputTokenCount);

        var sequential = new List<string>();
        for (int i = 0; i < 6; i++) sequential.Add((await client.GetResponseAsync(Prompt(i), Options(i))).Text);
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(async () => (await client.GetResponseAsync(Prompt(i), Options(i))).Text)));
        Assert.Equal(sequential, concurrent);
        Assert.Equal("qwensharp", client.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task StoppingAStreamEarlyFreesItsSlot()
    {
        using var client = QwenChatClient.Open(ModelPath, Small);
        int seen = 0;
        await foreach (var update in client.GetStreamingResponseAsync("Write a long story", new ChatOptions { MaxOutputTokens = 200 }))
            if (++seen == 2) break;
        await ErrorTests.WaitFor(() => Task.FromResult(client.Scheduler.Metrics.ActiveSequences == 0));
        Assert.Equal(1, client.Scheduler.Metrics.RequestsCancelled);
    }

    [Fact]
    public async Task EmbeddingsAreUnitVectorsAndCanBeShortened()
    {
        using IEmbeddingGenerator<string, Embedding<float>> generator = QwenEmbeddingGenerator.Open(ModelPath, Small);
        var all = await generator.GenerateAsync(["a cat sat", "stock markets fell"]);
        Assert.Equal(2, all.Count);
        foreach (var e in all)
        {
            Assert.Equal(64, e.Vector.Length);
            Assert.Equal(1f, System.Numerics.Tensors.TensorPrimitives.Norm(e.Vector.Span), 4);
        }
        Assert.True(all.Usage!.InputTokenCount >= 5);
        var again = await generator.GenerateAsync(["a cat sat"]);
        Assert.Equal(all[0].Vector.ToArray(), again[0].Vector.ToArray());

        var shortened = await generator.GenerateAsync(["a cat sat"], new EmbeddingGenerationOptions { Dimensions = 16 });
        var v = shortened[0].Vector.ToArray();
        Assert.Equal(16, v.Length);
        var head = all[0].Vector.Span[..16].ToArray();
        float norm = System.Numerics.Tensors.TensorPrimitives.Norm(head);
        for (int i = 0; i < 16; i++) Assert.Equal(head[i] / norm, v[i], 5);
    }
}

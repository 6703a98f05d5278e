using System.Net;
using System.Text.Json;

namespace QwenSharp.Server.Tests;

/// <summary>Many clients at once: batching must not change anyone's output, and clients that leave must leave
/// nothing behind.</summary>
public class LoadTests
{
    private static string ChatBody(int i) => JsonSerializer.Serialize(new
    {
        model = TestModels.Name, stream = true,
        messages = new[] { new { role = "user", content = $"Tell me story number {i} about {(i % 3 == 0 ? "cats" : i % 3 == 1 ? "the sea" : "a robot")}" } },
        options = new { seed = 1000 + i, temperature = 0.9, num_predict = 12 + i % 5 },
    });

    /// <summary>The content pieces of one streamed Ollama chat, in order.</summary>
    private static async Task<List<string>> StreamChat(TestServer s, int i)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/chat") { Content = new StringContent(ChatBody(i)) };
        using var response = await s.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var pieces = new List<string>();
        while (await reader.ReadLineAsync() is string line)
        {
            var json = JsonDocument.Parse(line).RootElement;
            if (json.GetProperty("done").GetBoolean())
            {
                Assert.Equal(12 + i % 5, json.GetProperty("eval_count").GetInt32());
                break;
            }
            pieces.Add(json.GetProperty("message").GetProperty("content").GetString()!);
        }
        return pieces;
    }

    [Fact]
    public async Task SixteenConcurrentStreamingChatsEqualTheSameChatsRunAlone()
    {
        await using var s = await TestServer.StartAsync(o => o with { Parallel = 16 });
        var alone = new List<List<string>>();
        for (int i = 0; i < 16; i++) alone.Add(await StreamChat(s, i));
        var scheduler = s.Server.Registry.Loaded().Single().Scheduler;
        long stepsBefore = scheduler.Metrics.StepsTotal, tokensBefore = scheduler.Metrics.GeneratedTokensTotal;

        var together = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => StreamChat(s, i))));

        for (int i = 0; i < 16; i++) Assert.Equal(alone[i], together[i]);
        Assert.True(alone.Select(a => string.Concat(a)).Distinct().Count() >= 12, "the chats should differ from one another");
        long steps = scheduler.Metrics.StepsTotal - stepsBefore, tokens = scheduler.Metrics.GeneratedTokensTotal - tokensBefore;
        Assert.True(steps * 2 < tokens, $"{tokens} tokens took {steps} steps: the requests were not batched");
        Assert.Equal(0, await s.Metric("qwen_active_sequences"));
    }

    [Fact]
    public async Task FiftyClientsThatDisconnectMidStreamLeaveNoActiveSequence()
    {
        // Room for 4000 tokens each, so that no generation can run to its end before its client's disconnect is
        // seen: with 400 (a 512-token context), on a fast machine with the other test classes running, two of the
        // fifty sometimes finished first (cancelled 48), which is right for the server but not what this tests.
        await using var s = await TestServer.StartAsync(o => o with { Parallel = 16, MaxQueue = 64, ContextLength = 4096 });
        string body = JsonSerializer.Serialize(new
        {
            model = TestModels.Name, stream = true, max_tokens = 4000,
            messages = new[] { new { role = "user", content = "Write forever" } },
        });
        async Task LeaveEarly(int i)
        {
            using var cts = new CancellationTokenSource();
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body) };
            var response = await s.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
            int events = 0;
            while (events < 2 + i % 3 && await reader.ReadLineAsync(cts.Token) is string line)
                if (line.StartsWith("data: ", StringComparison.Ordinal)) events++;
            cts.Cancel();
            response.Dispose();
        }
        await Task.WhenAll(Enumerable.Range(0, 50).Select(i => Task.Run(() => LeaveEarly(i))));

        await ErrorTests.WaitFor(async () => await s.Metric("qwen_active_sequences") == 0 && await s.Metric("qwen_queue_depth") == 0);
        Assert.Equal(50, await s.Metric("qwen_generation_cancelled_total"));
        Assert.True(await s.Metric("qwen_generated_tokens_total") < 50 * 400);   // far fewer than the 50 × 4000 asked for
        // and the server still serves
        var ok = await s.PostJson("/api/generate", """{"model":"MODEL","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":3}}""".Replace("MODEL", TestModels.Name));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}

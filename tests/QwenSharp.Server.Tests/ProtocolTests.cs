using System.Net;
using System.Text.Json;

namespace QwenSharp.Server.Tests;

/// <summary>The wire formats themselves, read raw: NDJSON lines, SSE events, the fields each API promises.</summary>
[Collection(SharedServerCollection.Name)]
public class ProtocolTests(SharedServer shared)
{
    private TestServer S => shared.Server;
    private static string M(string json) => json.Replace("MODEL", TestModels.Name);

    private static async Task<List<JsonElement>> Ndjson(HttpResponseMessage r)
    {
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("application/x-ndjson", r.Content.Headers.ContentType?.MediaType);
        string text = await r.Content.ReadAsStringAsync();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    /// <summary>The JSON events of an SSE stream; asserts it ends with [DONE] and nothing after.</summary>
    private static async Task<List<JsonElement>> Sse(HttpResponseMessage r)
    {
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        string text = await r.Content.ReadAsStringAsync();
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        return events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.Clone()).ToList();
    }

    [Fact]
    public async Task OllamaChatStreamsNdjsonEndingWithDoneAndTimings()
    {
        var lines = await Ndjson(await S.PostJson("/api/chat", M("""{"model":"MODEL","messages":[{"role":"system","content":"Be nice."},{"role":"user","content":"hi"}],"options":{"seed":1,"num_predict":5}}""")));
        Assert.All(lines[..^1], l =>
        {
            Assert.False(l.GetProperty("done").GetBoolean());
            Assert.Equal("assistant", l.GetProperty("message").GetProperty("role").GetString());
            Assert.Equal(TestModels.Name, l.GetProperty("model").GetString());
            Assert.True(DateTime.TryParse(l.GetProperty("created_at").GetString(), out _));
        });
        var last = lines[^1];
        Assert.True(last.GetProperty("done").GetBoolean());
        Assert.Equal("length", last.GetProperty("done_reason").GetString());
        Assert.Equal(5, last.GetProperty("eval_count").GetInt32());
        foreach (string f in new[] { "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_duration" })
            Assert.True(last.GetProperty(f).GetInt64() >= 0, f);
    }

    [Fact]
    public async Task OllamaStopStringsEndTheTextAndSayStop()
    {
        string Body(string extra) => M("""{"model":"MODEL","prompt":"Once upon a time","raw":true,"stream":false,"options":{"seed":2,"temperature":0,"num_predict":24EXTRA}}""").Replace("EXTRA", extra);
        var free = await TestServer.JsonOf(await S.PostJson("/api/generate", Body("")));
        string text = free.GetProperty("response").GetString()!;
        Assert.True(text.Length > 8, text);
        string stop = text.Substring(4, 3);
        var stopped = await TestServer.JsonOf(await S.PostJson("/api/generate", Body($",\"stop\":[{JsonSerializer.Serialize(stop)}]")));
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.GetProperty("response").GetString());
        Assert.Equal("stop", stopped.GetProperty("done_reason").GetString());
    }

    [Fact]
    public async Task OpenAiChatStreamIsSseEndingInDoneWithUsageWhenAsked()
    {
        var events = await Sse(await S.PostJson("/v1/chat/completions", M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":4,"seed":3}""")));
        Assert.Equal("assistant", events[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(events, e => Assert.Equal("chat.completion.chunk", e.GetProperty("object").GetString()));
        Assert.Single(events.Select(e => e.GetProperty("id").GetString()).Distinct());
        var finish = events[^2].GetProperty("choices")[0];
        Assert.Equal("length", finish.GetProperty("finish_reason").GetString());
        var usage = events[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(4, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() + 4, usage.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task ASecondChatTurnReusesTheFirstTurnsCache()
    {
        var first = await TestServer.JsonOf(await S.PostJson("/v1/chat/completions", M("""{"model":"MODEL","messages":[{"role":"user","content":"Remember the word banana"}],"max_tokens":5,"temperature":0}""")));
        string reply = first.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        int firstPrompt = first.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        string second = JsonSerializer.Serialize(new
        {
            model = TestModels.Name, max_tokens = 3, temperature = 0,
            messages = new[]
            {
                new { role = "user", content = "Remember the word banana" }, new { role = "assistant", content = reply },
                new { role = "user", content = "Which word?" },
            },
        });
        var usage = (await TestServer.JsonOf(await S.PostJson("/v1/chat/completions", second))).GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() >= firstPrompt,
            $"cached {usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens")} of the first turn's {firstPrompt} prompt tokens");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() > firstPrompt + 5);
    }

    [Fact]
    public async Task OpenAiLogprobsAreReturnedForChatAndCompletions()
    {
        var chat = await TestServer.JsonOf(await S.PostJson("/v1/chat/completions", M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0,"logprobs":true,"top_logprobs":2}""")));
        var content = chat.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content");
        Assert.Equal(3, content.GetArrayLength());
        foreach (var entry in content.EnumerateArray())
        {
            var tops = entry.GetProperty("top_logprobs");
            Assert.Equal(2, tops.GetArrayLength());
            // greedy: the chosen token is the most likely one
            Assert.Equal(tops[0].GetProperty("logprob").GetDouble(), entry.GetProperty("logprob").GetDouble(), 4);
            Assert.True(tops[0].GetProperty("logprob").GetDouble() >= tops[1].GetProperty("logprob").GetDouble());
            Assert.True(entry.GetProperty("logprob").GetDouble() <= 0);
        }

        var completion = await TestServer.JsonOf(await S.PostJson("/v1/completions", M("""{"model":"MODEL","prompt":"The sky is","max_tokens":3,"temperature":0,"logprobs":1,"echo":true}""")));
        var choice = completion.GetProperty("choices")[0];
        Assert.Equal("text_completion", completion.GetProperty("object").GetString());
        Assert.StartsWith("The sky is", choice.GetProperty("text").GetString());
        Assert.Equal(3, choice.GetProperty("logprobs").GetProperty("token_logprobs").GetArrayLength());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task OpenAiCompletionsStreamAndDefaultToSixteenTokens()
    {
        var events = await Sse(await S.PostJson("/v1/completions", M("""{"model":"MODEL","prompt":"Hello","stream":true,"seed":1}""")));
        Assert.Equal("length", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var plain = await TestServer.JsonOf(await S.PostJson("/v1/completions", M("""{"model":"MODEL","prompt":"Hello","seed":1}""")));
        Assert.Equal(16, plain.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString())),
            plain.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task OpenAiEmbeddingsAsFloatsAndBase64()
    {
        var floats = await TestServer.JsonOf(await S.PostJson("/v1/embeddings", M("""{"model":"MODEL","input":["a cat","a dog"]}""")));
        var data = floats.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        var first = data[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(64, first.Length);
        Assert.Equal(1.0, Math.Sqrt(first.Sum(v => (double)v * v)), 4);
        Assert.True(floats.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() >= 4);

        var b64 = await TestServer.JsonOf(await S.PostJson("/v1/embeddings", M("""{"model":"MODEL","input":"a cat","encoding_format":"base64"}""")));
        var bytes = Convert.FromBase64String(b64.GetProperty("data")[0].GetProperty("embedding").GetString()!);
        Assert.Equal(first, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray());
    }

    [Fact]
    public async Task MetricsArePrometheusText()
    {
        await S.PostJson("/api/generate", M("""{"model":"MODEL","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":2}}"""));
        var r = await S.Http.GetAsync("/metrics");
        Assert.Equal("text/plain", r.Content.Headers.ContentType?.MediaType);
        string text = await r.Content.ReadAsStringAsync();
        foreach (string name in new[] { "qwen_generation_requests_total", "qwen_generated_tokens_total", "qwen_tokens_per_second", "qwen_queue_depth", "qwen_active_sequences", "qwen_http_requests_total" })
        {
            Assert.Contains($"# TYPE {name} ", text);
            Assert.Matches($"(?m)^{name} [0-9.eE+-]+$", text);
        }
        Assert.True(await S.Metric("qwen_generated_tokens_total") >= 2);
        Assert.True(await S.Metric("qwen_generation_requests_total") >= 1);
    }

    [Fact]
    public async Task KeepAliveZeroUnloadsTheModelAfterTheRequest()
    {
        await using var own = await TestServer.StartAsync();
        var r = await own.PostJson("/api/generate", M("""{"model":"MODEL","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":1}}"""));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var ps = await TestServer.JsonOf(await own.Http.GetAsync("/api/ps"));
        Assert.Equal(TestModels.Name + ":latest", ps.GetProperty("models")[0].GetProperty("name").GetString());

        var unload = await TestServer.JsonOf(await own.PostJson("/api/generate", M("""{"model":"MODEL","keep_alive":0}""")));
        Assert.Equal("unload", unload.GetProperty("done_reason").GetString());
        await ErrorTests.WaitFor(async () => (await TestServer.JsonOf(await own.Http.GetAsync("/api/ps"))).GetProperty("models").GetArrayLength() == 0);

        // a short keep_alive lets it go on its own
        await own.PostJson("/api/chat", M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}],"stream":false,"keep_alive":"300ms","options":{"num_predict":1}}"""));
        Assert.Equal(1, (await TestServer.JsonOf(await own.Http.GetAsync("/api/ps"))).GetProperty("models").GetArrayLength());
        await ErrorTests.WaitFor(async () => (await TestServer.JsonOf(await own.Http.GetAsync("/api/ps"))).GetProperty("models").GetArrayLength() == 0);
        Assert.Equal(0, await own.Metric("qwen_models_loaded"));
        Assert.True(await own.Metric("qwen_generated_tokens_total") >= 2); // counters survive the unload
    }
}

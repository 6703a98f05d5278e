using System.Net;
using System.Text.Json;

namespace QwenSharp.Server.Tests;

/// <summary>Every refusal is JSON with the right status, in the dialect of the API that was called.</summary>
[Collection(SharedServerCollection.Name)]
public class ErrorTests(SharedServer shared)
{
    private TestServer S => shared.Server;

    private static async Task<string> OllamaError(HttpResponseMessage r, HttpStatusCode status)
    {
        Assert.Equal(status, r.StatusCode);
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.ToString());
        var body = await TestServer.JsonOf(r);
        return body.GetProperty("error").GetString()!;
    }

    private static async Task<JsonElement> OpenAiError(HttpResponseMessage r, HttpStatusCode status)
    {
        Assert.Equal(status, r.StatusCode);
        Assert.StartsWith("application/json", r.Content.Headers.ContentType?.ToString());
        var error = (await TestServer.JsonOf(r)).GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        return error;
    }

    [Fact]
    public async Task MalformedJsonIs400()
    {
        Assert.Contains("invalid JSON", await OllamaError(await S.PostJson("/api/chat", "{\"model\": "), HttpStatusCode.BadRequest));
        var e = await OpenAiError(await S.PostJson("/v1/chat/completions", "not json"), HttpStatusCode.BadRequest);
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Contains("invalid JSON", await OllamaError(await S.PostJson("/api/generate", "[1,2]"), HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task AFieldOfTheWrongTypeOrValueIs400()
    {
        string msg = await OllamaError(await S.PostJson("/api/generate",
            M("""{"model":"MODEL","prompt":"hi","options":{"temperature":"hot"}}""")), HttpStatusCode.BadRequest);
        Assert.Contains("temperature", msg);
        msg = await OllamaError(await S.PostJson("/api/generate",
            M("""{"model":"MODEL","prompt":"hi","options":{"top_p":1.5}}""")), HttpStatusCode.BadRequest);
        Assert.Contains("top-p", msg);
        var e = await OpenAiError(await S.PostJson("/v1/chat/completions",
            M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}],"n":3}""")), HttpStatusCode.BadRequest);
        Assert.Equal("n", e.GetProperty("param").GetString());
        e = await OpenAiError(await S.PostJson("/v1/chat/completions", M("""{"model":"MODEL","messages":[]}""")), HttpStatusCode.BadRequest);
        Assert.Equal("messages", e.GetProperty("param").GetString());
        e = await OpenAiError(await S.PostJson("/v1/completions", M("""{"model":"MODEL","prompt":{"a":1}}""")), HttpStatusCode.BadRequest);
        Assert.Equal("prompt", e.GetProperty("param").GetString());
        msg = await OllamaError(await S.PostJson("/api/chat", M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}],"keep_alive":"5 parsecs"}""")), HttpStatusCode.BadRequest);
        Assert.Contains("keep_alive", msg);
        e = await OpenAiError(await S.PostJson("/v1/completions", M("""{"model":"MODEL","prompt":[999999999]}""")), HttpStatusCode.BadRequest);
        Assert.Contains("outside the vocabulary", e.GetProperty("message").GetString());
    }

    [Fact]
    public async Task AnUnknownModelIs404()
    {
        Assert.Contains("nope", await OllamaError(await S.PostJson("/api/chat", """{"model":"nope","messages":[{"role":"user","content":"hi"}]}"""), HttpStatusCode.NotFound));
        Assert.Contains("nope", await OllamaError(await S.PostJson("/api/show", """{"model":"nope"}"""), HttpStatusCode.NotFound));
        var e = await OpenAiError(await S.PostJson("/v1/chat/completions", """{"model":"nope","messages":[{"role":"user","content":"hi"}]}"""), HttpStatusCode.NotFound);
        Assert.Equal("model", e.GetProperty("param").GetString());
        await OpenAiError(await S.Http.GetAsync("/v1/models/nope"), HttpStatusCode.NotFound);
        await OpenAiError(await S.PostJson("/v1/embeddings", """{"model":"nope","input":"x"}"""), HttpStatusCode.NotFound);
        await OllamaError(await S.Http.GetAsync("/api/nothing-here"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task APromptLongerThanTheContextIs400UnlessTruncationIsAsked()
    {
        string longText = string.Join(" ", Enumerable.Repeat("word", 100));
        string ollama = M("""{"model":"MODEL","prompt":"LONG","raw":true,"stream":false,"options":{"num_ctx":32,"num_predict":2}""").Replace("LONG", longText);
        Assert.Contains("context", await OllamaError(await S.PostJson("/api/generate", ollama + "}"), HttpStatusCode.BadRequest));
        var ok = await S.PostJson("/api/generate", ollama + ",\"truncate\":true}");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(2, (await TestServer.JsonOf(ok)).GetProperty("eval_count").GetInt32());

        var e = await OpenAiError(await S.PostJson("/v1/chat/completions",
            M("""{"model":"MODEL","messages":[{"role":"user","content":"LONG"}],"num_ctx":32,"max_tokens":2}""").Replace("LONG", longText)), HttpStatusCode.BadRequest);
        Assert.Equal("context_length_exceeded", e.GetProperty("type").GetString());
    }

    [Fact]
    public async Task ATooLargeBodyIs413()
    {
        await using var small = await TestServer.StartAsync(o => o with { MaxRequestBodyBytes = 1000 });
        string big = M("""{"model":"MODEL","prompt":"BIG"}""").Replace("BIG", new string('a', 5000));
        await OllamaError(await small.PostJson("/api/generate", big), HttpStatusCode.RequestEntityTooLarge);
        var e = await OpenAiError(await small.PostJson("/v1/completions", big), HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("request_too_large", e.GetProperty("type").GetString());
    }

    [Fact]
    public async Task AFullQueueIs503AndTheServerRecovers()
    {
        await using var one = await TestServer.StartAsync(o => o with { Parallel = 1, MaxQueue = 0 });
        // One endless stream holds the only slot.
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/generate")
        {
            Content = new StringContent(M("""{"model":"MODEL","prompt":"hello","raw":true,"options":{"num_predict":-1}}""")),
        };
        using var cts = new CancellationTokenSource();
        var busy = await one.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var reader = new StreamReader(await busy.Content.ReadAsStreamAsync());
        Assert.NotNull(await reader.ReadLineAsync());

        string refused = await OllamaError(await one.PostJson("/api/generate", M("""{"model":"MODEL","prompt":"hi","raw":true}""")), HttpStatusCode.ServiceUnavailable);
        Assert.Contains("busy", refused);
        var e = await OpenAiError(await one.PostJson("/v1/chat/completions", M("""{"model":"MODEL","messages":[{"role":"user","content":"hi"}]}""")), HttpStatusCode.ServiceUnavailable);
        Assert.Equal("server_busy", e.GetProperty("type").GetString());

        busy.Dispose();
        cts.Cancel();
        await WaitFor(async () => await one.Metric("qwen_active_sequences") == 0);
        var ok = await one.PostJson("/api/generate", M("""{"model":"MODEL","prompt":"hi","raw":true,"stream":false,"options":{"num_predict":2}}"""));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task TheApiKeyGuardsEveryRouteButTheLivenessOnes()
    {
        await using var locked = await TestServer.StartAsync(o => o with { ApiKey = "sekrit" });
        Assert.Equal(HttpStatusCode.OK, (await locked.Http.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await locked.Http.GetAsync("/api/version")).StatusCode);
        Assert.Contains("API key", await OllamaError(await locked.Http.GetAsync("/api/tags"), HttpStatusCode.Unauthorized));
        Assert.Contains("API key", await OllamaError(await locked.PostJson("/api/show", M("""{"model":"MODEL"}"""), key: "wrong"), HttpStatusCode.Unauthorized));
        var e = await OpenAiError(await locked.Http.GetAsync("/v1/models"), HttpStatusCode.Unauthorized);
        Assert.Equal("authentication_error", e.GetProperty("type").GetString());
        await OllamaError(await locked.Http.GetAsync("/metrics"), HttpStatusCode.Unauthorized);

        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sekrit");
        Assert.Equal(HttpStatusCode.OK, (await locked.Http.SendAsync(request)).StatusCode);
    }

    [Fact]
    public async Task CorsIsOffUnlessOriginsAreConfigured()
    {
        static HttpRequestMessage Preflight() => new(HttpMethod.Options, "/v1/models")
        {
            Headers = { { "Origin", "http://example.com" }, { "Access-Control-Request-Method", "GET" } },
        };
        var closed = await S.Http.SendAsync(Preflight());
        Assert.False(closed.Headers.Contains("Access-Control-Allow-Origin"));

        await using var open = await TestServer.StartAsync(o => o with { CorsOrigins = ["http://example.com"] });
        var allowed = await open.Http.SendAsync(Preflight());
        Assert.Equal("http://example.com", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public void TheServerListensOnLoopbackByDefault()
    {
        Assert.Equal("127.0.0.1", new ServerOptions().Host);
        Assert.StartsWith("http://127.0.0.1:", S.Server.Address);
        Assert.Empty(new ServerOptions().CorsOrigins);
    }

    private static string M(string json) => json.Replace("MODEL", TestModels.Name);

    internal static async Task WaitFor(Func<Task<bool>> condition, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached in time");
            await Task.Delay(50);
        }
    }
}

using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests;
using QwenSharp.Tests.Models;

namespace QwenSharp.Server.Tests;

/// <summary>A models folder with one tiny synthetic Qwen2 (real Qwen vocabulary, random weights), written once per
/// test run and shared by every server the tests start.</summary>
internal static class TestModels
{
    public const string Name = "tiny-chat";
    private static readonly Lazy<string> Folder = new(() =>
    {
        string dir = TestPaths.NewTempDir("serve-models");
        var spec = new SyntheticModelSpec
        {
            HiddenSize = 64, FeedForwardSize = 128, LayerCount = 2, HeadCount = 4, KvHeadCount = 2,
            ContextLength = 4096, InitStd = 0.25f, Seed = 11, WeightType = GgmlType.Q8_0, Name = Name,
        };
        SyntheticQwen2.Write(Path.Combine(dir, Name + ".gguf"), spec, RealVocabulary.Get());
        return dir;
    });

    public static string Dir => Folder.Value;
}

/// <summary>A real Kestrel on a free loopback port over the test models, and an HttpClient pointed at it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(QwenServer server)
    {
        Server = server;
        Http = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromSeconds(60) };
    }

    public QwenServer Server { get; }
    public HttpClient Http { get; }
    public Uri BaseUri => Http.BaseAddress!;

    public static async Task<TestServer> StartAsync(Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions
        {
            Host = "127.0.0.1", Port = 0, ModelsDirectory = TestModels.Dir, Parallel = 16, MaxQueue = 64,
            ContextLength = 512, MaxBatch = 128, Threads = 1, KeepAliveCheckInterval = TimeSpan.FromMilliseconds(100),
        };
        var server = QwenServer.Create(configure?.Invoke(options) ?? options);
        await server.StartAsync();
        return new TestServer(server);
    }

    public Task<HttpResponseMessage> PostJson(string path, string json, string? key = null)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key != null) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Http.SendAsync(message);
    }

    public static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>The value of one line of /metrics.</summary>
    public async Task<double> Metric(string name)
    {
        string text = await Http.GetStringAsync("/metrics");
        foreach (string line in text.Split('\n'))
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
                return double.Parse(line[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"{name} not in /metrics:\n{text}");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>One server for the tests that need no special settings.</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await TestServer.StartAsync();
    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SharedServerCollection : ICollectionFixture<SharedServer>
{
    public const string Name = "shared server";
}

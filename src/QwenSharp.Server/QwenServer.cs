using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace QwenSharp.Server;

/// <summary>The `qwen serve` HTTP server: Kestrel with the Ollama and OpenAI routes over a <see cref="ModelRegistry"/>.
/// Start it with <see cref="StartAsync"/>; <see cref="Address"/> is where it listens (useful with port 0).</summary>
public sealed class QwenServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private QwenServer(WebApplication app, ModelRegistry registry, ServerCounters counters, ServerOptions options)
    {
        _app = app;
        Registry = registry;
        Counters = counters;
        Options = options;
    }

    public ServerOptions Options { get; }
    public ModelRegistry Registry { get; }
    public ServerCounters Counters { get; }

    /// <summary>The first address Kestrel bound, e.g. http://127.0.0.1:11434.</summary>
    public string Address => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    public static QwenServer Create(ServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logging != null) logging(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls($"http://{FormatHost(options.Host)}:{options.Port}");
        if (options.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. options.CorsOrigins]).AllowAnyHeader().AllowAnyMethod()));

        var app = builder.Build();
        var counters = new ServerCounters();
        var registry = new ModelRegistry(options, counters);

        app.Use((http, next) => ErrorHandling.Middleware(http, next, counters));
        if (options.CorsOrigins.Count > 0) app.UseCors();
        if (!string.IsNullOrEmpty(options.ApiKey)) app.Use((http, next) => RequireKey(http, next, options.ApiKey));
        app.MapGet("/metrics", () => Results.Text(counters.Render(registry.Loaded()), "text/plain; version=0.0.4; charset=utf-8"));
        OllamaEndpoints.Map(app, registry, options);
        OpenAiEndpoints.Map(app, registry, options);
        app.MapFallback(http => throw new ApiException(404, $"no route for {http.Request.Method} {http.Request.Path}", "not_found_error"));
        return new QwenServer(app, registry, counters, options);
    }

    private static string FormatHost(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;

    /// <summary>Bearer-token check for every route except the liveness ones (GET /, /api/version), compared in
    /// constant time. CORS preflights pass so a configured browser origin can ask.</summary>
    private static Task RequireKey(HttpContext http, RequestDelegate next, string key)
    {
        var path = http.Request.Path;
        bool open = (path == "/" && (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)))
            || path == "/api/version" || HttpMethods.IsOptions(http.Request.Method);
        if (open) return next(http);
        string header = http.Request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        bool ok = header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[prefix.Length..].Trim()), Encoding.UTF8.GetBytes(key));
        if (ok) return next(http);
        http.Response.Headers.WWWAuthenticate = "Bearer";
        throw new ApiException(401, "missing or wrong API key (send Authorization: Bearer KEY)", "authentication_error");
    }

    public Task StartAsync(CancellationToken cancel = default) => _app.StartAsync(cancel);

    /// <summary>Fires when the host begins to stop on its own: ASP.NET Core's console lifetime catches SIGTERM (and
    /// SIGQUIT) and stops the host instead of letting the process end, so a caller that waits for its own signal
    /// must also stop here.</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    /// <summary>Runs until <paramref name="cancel"/> fires (Ctrl+C in the CLI).</summary>
    public async Task RunAsync(CancellationToken cancel)
    {
        await _app.StartAsync(cancel);
        try
        {
            await Task.Delay(Timeout.Infinite, cancel);
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
        await _app.StopAsync(CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        Registry.Dispose();
    }
}

using System.CommandLine;
using System.Globalization;
using QwenSharp.Server;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen serve`: the Ollama- and OpenAI-compatible HTTP server. Every flag has an environment variable
/// (QWEN_HOST, QWEN_PORT, QWEN_MODELS, QWEN_PARALLEL, QWEN_MAX_QUEUE, QWEN_API_KEY, QWEN_CORS_ORIGINS); a flag wins.</summary>
internal static class ServeCommand
{
    public static Command Create(CliIO io)
    {
        var host = new Option<string?>("--host") { Description = "Address to listen on (default 127.0.0.1, loopback only; env QWEN_HOST)" };
        var port = new Option<int?>("--port") { Description = "Port (default 11434, Ollama's; env QWEN_PORT)" };
        var models = new Option<string?>("--models") { Description = "Folder of NAME.gguf files / NAME HF folders (default .; env QWEN_MODELS)" };
        var parallel = new Option<int?>("--parallel") { Description = "Sequences decoded together per model (default 4; env QWEN_PARALLEL)" };
        var maxQueue = new Option<int?>("--max-queue") { Description = "Requests that may wait; beyond that 503 (default 64; env QWEN_MAX_QUEUE)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Require Authorization: Bearer KEY (env QWEN_API_KEY)" };
        var cors = new Option<string?>("--cors-origins") { Description = "Comma-separated origins allowed by CORS (default none; env QWEN_CORS_ORIGINS)" };
        var runtime = new RuntimeOptions();
        var cmd = new Command("serve", "Serve models over the Ollama and OpenAI HTTP APIs") { host, port, models, parallel, maxQueue, apiKey, cors };
        runtime.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var ctx = runtime.Read(r);
            var options = new ServerOptions
            {
                Host = r.GetValue(host) ?? Env("QWEN_HOST") ?? "127.0.0.1",
                Port = r.GetValue(port) ?? EnvInt("QWEN_PORT") ?? 11434,
                ModelsDirectory = r.GetValue(models) ?? Env("QWEN_MODELS") ?? ".",
                Parallel = r.GetValue(parallel) ?? EnvInt("QWEN_PARALLEL") ?? 4,
                MaxQueue = r.GetValue(maxQueue) ?? EnvInt("QWEN_MAX_QUEUE") ?? 64,
                ApiKey = r.GetValue(apiKey) ?? Env("QWEN_API_KEY"),
                CorsOrigins = (r.GetValue(cors) ?? Env("QWEN_CORS_ORIGINS") ?? "")
                    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                ContextLength = ctx.ContextLength, Threads = ctx.Threads, KvCacheType = ctx.KvCacheType,
                LoadOptions = runtime.LoadOptions(r),
            };
            if (options.Parallel < 1) throw new QwenSharpException($"--parallel must be at least 1, got {options.Parallel}");
            if (options.MaxQueue < 0) throw new QwenSharpException($"--max-queue must be 0 or more, got {options.MaxQueue}");
            if (options.Port is < 0 or > 65535) throw new QwenSharpException($"--port must be 0..65535, got {options.Port}");
            if (!Directory.Exists(options.ModelsDirectory)) throw new QwenSharpException($"{options.ModelsDirectory}: models folder not found");

            using var stop = new CancellationTokenSource();
            var server = QwenServer.Create(options);
            try
            {
                server.StartAsync(stop.Token).GetAwaiter().GetResult();
                // Ctrl+C (SIGINT), SIGTERM (docker stop, systemd, kill) and SIGQUIT reach ASP.NET Core's console
                // lifetime, which stops the host instead of ending the process; the command ends when the host stops
                using var hostStopping = server.Stopping.Register(stop.Cancel);
                io.Out.WriteLine($"qwen serve: listening on {server.Address}, models from {Path.GetFullPath(options.ModelsDirectory)}" +
                    $" ({server.Registry.List().Count} found), parallel {options.Parallel}, queue {options.MaxQueue}" +
                    (options.ApiKey is null ? "" : ", API key required"));
                io.Out.Flush();
                stop.Token.WaitHandle.WaitOne();
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return 0;
        });
        return cmd;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static int? EnvInt(string name)
    {
        if (Env(name) is not string v) return null;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n : throw new QwenSharpException($"{name} must be a whole number, got '{v}'");
    }
}

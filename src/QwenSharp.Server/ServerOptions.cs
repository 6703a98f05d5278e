using QwenSharp.Chat;
using QwenSharp.Models;

namespace QwenSharp.Server;

/// <summary>Everything `qwen serve` can be told. Defaults are safe: loopback only, no CORS, bounded queue.</summary>
public sealed record ServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); read the bound address from <see cref="QwenServer.Address"/>.</summary>
    public int Port { get; init; } = 11434;
    public string ModelsDirectory { get; init; } = ".";
    /// <summary>Sequences each model decodes together.</summary>
    public int Parallel { get; init; } = 4;
    public int MaxQueue { get; init; } = 64;
    /// <summary>When set, every route but GET / and /api/version needs "Authorization: Bearer KEY".</summary>
    public string? ApiKey { get; init; }
    /// <summary>Origins allowed by CORS; empty = CORS off (browsers on other origins are refused).</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Context per sequence; 0 = min(the model's, 4096).</summary>
    public int ContextLength { get; init; }
    public int MaxBatch { get; init; } = 512;
    public int Threads { get; init; }
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;
    /// <summary>How each model is loaded: quantization at load, repacking (`--quantize`, `--no-repack`).</summary>
    public ModelLoadOptions LoadOptions { get; init; } = ModelLoadOptions.Default;
    public long MaxRequestBodyBytes { get; init; } = 16 * 1024 * 1024;
    /// <summary>How long a model stays loaded after its last request when the request does not say (Ollama: 5m).</summary>
    public TimeSpan DefaultKeepAlive { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How often idle models are checked for unloading.</summary>
    public TimeSpan KeepAliveCheckInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Default: each model's own chat template, ChatML when it has none.</summary>
    public IChatPromptRenderer ChatRenderer { get; init; } = ModelTemplateRenderer.Instance;
    /// <summary>Reads tool calls in replies to requests that carry tools (default: Qwen's &lt;tool_call&gt; blocks);
    /// null: replies are never parsed for tool calls.</summary>
    public IToolCallParser? ToolCallParser { get; init; } = QwenToolCallParser.Instance;
}

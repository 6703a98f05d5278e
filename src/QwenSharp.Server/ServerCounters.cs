using System.Globalization;
using System.Text;
using QwenSharp.Generation;

namespace QwenSharp.Server;

/// <summary>Server-wide counters behind /metrics. Schedulers count their own work; when a model unloads its
/// totals are absorbed here so the counters never go backwards.</summary>
public sealed class ServerCounters
{
    private long _http, _errors, _loads, _retiredRequests, _retiredGenerated, _retiredPrompt, _retiredReused, _retiredCancelled;

    internal void HttpRequest() => Interlocked.Increment(ref _http);
    internal void HttpError() => Interlocked.Increment(ref _errors);
    internal void ModelLoaded() => Interlocked.Increment(ref _loads);

    internal void Absorb(SchedulerMetrics m)
    {
        Interlocked.Add(ref _retiredRequests, m.RequestsTotal);
        Interlocked.Add(ref _retiredGenerated, m.GeneratedTokensTotal);
        Interlocked.Add(ref _retiredPrompt, m.PromptTokensTotal);
        Interlocked.Add(ref _retiredReused, m.ReusedPromptTokensTotal);
        Interlocked.Add(ref _retiredCancelled, m.RequestsCancelled);
    }

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    public string Render(IReadOnlyList<LoadedModel> loaded)
    {
        var sb = new StringBuilder();
        void Metric(string name, string type, string help, double value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        long Sum(Func<SchedulerMetrics, long> f) => loaded.Sum(m => f(m.Scheduler.Metrics));

        Metric("qwen_http_requests_total", "counter", "HTTP requests received.", Interlocked.Read(ref _http));
        Metric("qwen_http_errors_total", "counter", "HTTP requests answered with an error status.", Interlocked.Read(ref _errors));
        Metric("qwen_generation_requests_total", "counter", "Generation requests accepted by a scheduler.", Interlocked.Read(ref _retiredRequests) + Sum(m => m.RequestsTotal));
        Metric("qwen_generation_cancelled_total", "counter", "Generation requests cancelled (client gone).", Interlocked.Read(ref _retiredCancelled) + Sum(m => m.RequestsCancelled));
        Metric("qwen_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.", Interlocked.Read(ref _retiredPrompt) + Sum(m => m.PromptTokensTotal));
        Metric("qwen_prompt_tokens_reused_total", "counter", "Prompt tokens served from the prompt cache.", Interlocked.Read(ref _retiredReused) + Sum(m => m.ReusedPromptTokensTotal));
        Metric("qwen_generated_tokens_total", "counter", "Tokens generated.", Interlocked.Read(ref _retiredGenerated) + Sum(m => m.GeneratedTokensTotal));
        Metric("qwen_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.", loaded.Sum(m => m.Scheduler.Metrics.TokensPerSecond));
        Metric("qwen_queue_depth", "gauge", "Requests waiting for a sequence slot.", loaded.Sum(m => m.Scheduler.Metrics.QueueDepth));
        Metric("qwen_active_sequences", "gauge", "Sequences generating now.", loaded.Sum(m => m.Scheduler.Metrics.ActiveSequences));
        Metric("qwen_models_loaded", "gauge", "Models in memory.", loaded.Count);
        Metric("qwen_model_loads_total", "counter", "Model loads.", Interlocked.Read(ref _loads));
        return sb.ToString();
    }
}

using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using QwenSharp.Chat;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Server;

/// <summary>OpenAI's API: /v1/chat/completions, /v1/completions, /v1/models, /v1/embeddings. Streams are SSE,
/// "data: {chunk}" per piece, ending in "data: [DONE]".</summary>
internal static class OpenAiEndpoints
{
    public static void Map(WebApplication app, ModelRegistry registry, ServerOptions options)
    {
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = registry.List().Select(Model),
        }, Json.Write));
        app.MapGet("/v1/models/{*id}", (string id) => Results.Json(Model(registry.Find(id)), Json.Write));
        app.MapPost("/v1/chat/completions", http => ChatCompletions(http, registry, options));
        app.MapPost("/v1/completions", http => Completions(http, registry));
        app.MapPost("/v1/embeddings", http => Embeddings(http, registry));
    }

    private static object Model(ModelEntry e) => new
    {
        id = e.Name, @object = "model", created = new DateTimeOffset(e.ModifiedUtc).ToUnixTimeSeconds(), owned_by = "qwensharp",
    };

    private static GenerationOptions Options(OpenAiSamplingRequest r, int defaultMax)
    {
        if (r.N is int n && n != 1) throw ApiException.BadRequest("only n = 1 is supported", "n");
        int? max = r.MaxCompletionTokens ?? r.MaxTokens;
        if (max is < 0) throw ApiException.BadRequest("max_tokens must not be negative", "max_tokens");
        var stops = Json.Strings(r.Stop, "stop") ?? [];
        if (stops.Count > 4) throw ApiException.BadRequest("at most 4 stop sequences are allowed", "stop");
        return new GenerationOptions
        {
            Sampling = r.Sampling().Apply(SamplingFields.OpenAiDefaults),
            MaxTokens = max ?? defaultMax,
            StopStrings = stops,
        };
    }

    private static string Content(JsonElement? content)
    {
        if (content is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return "";
        if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
        if (e.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest("message content must be a string or an array of parts", "messages");
        var sb = new System.Text.StringBuilder();
        foreach (var part in e.EnumerateArray())
            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var type) && type.GetString() == "text"
                && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                sb.Append(text.GetString());
        return sb.ToString();
    }

    private static string FinishReason(ScheduledResult r, bool toolCalls = false) =>
        toolCalls ? "tool_calls" : r.Reason == Generation.FinishReason.Length ? "length" : "stop";

    private static object Usage(ScheduledResult r) => new
    {
        prompt_tokens = r.PromptTokens, completion_tokens = r.GeneratedTokens, total_tokens = r.PromptTokens + r.GeneratedTokens,
        prompt_tokens_details = new { cached_tokens = r.ReusedPromptTokens },
    };

    private static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    private static async Task ChatCompletions(HttpContext http, ModelRegistry registry, ServerOptions options)
    {
        var req = await Json.BodyAsync<OpenAiChatRequest>(http);
        if (req.Messages is null || req.Messages.Count == 0) throw ApiException.BadRequest("messages must be a non-empty array", "messages");
        var messages = new List<ChatMessage>();
        foreach (var m in req.Messages)
        {
            if (string.IsNullOrEmpty(m.Role)) throw ApiException.BadRequest("every message needs a role", "messages");
            messages.Add(new ChatMessage(m.Role == "developer" ? "system" : m.Role, Content(m.Content))
            {
                ToolCalls = ToolCallWire.FromOpenAi(m.ToolCalls), ToolCallId = m.ToolCallId, Name = m.Name,
            });
        }
        int top = req.Logprobs == true ? Math.Clamp(req.TopLogprobs ?? 0, 0, 20) : -1;
        if (req.TopLogprobs is > 20 or < 0) throw ApiException.BadRequest("top_logprobs must be between 0 and 20", "top_logprobs");
        var genOptions = Options(req, -1);
        using var lease = await ModelLease.AcquireAsync(registry, req.Model, null);
        var model = lease.Model.Model;
        string? tools = req.Tools is { ValueKind: JsonValueKind.Array } t ? t.GetRawText() : null;
        // Replies are read for calls only when the request offers tools and does not forbid calling them.
        bool noCalls = req.ToolChoice is { ValueKind: JsonValueKind.String } choice && choice.GetString() == "none";
        IToolCallParser? toolParser = tools != null && !noCalls ? options.ToolCallParser : null;
        var prompt = model.Tokenizer.Encode(options.ChatRenderer.Render(model, messages, addGenerationPrompt: true, tools), parseSpecial: true);
        var handle = lease.Scheduler.Submit(new GenerationRequest(prompt, genOptions)
        {
            ContextLimit = req.NumCtx, TruncatePrompt = req.Truncate == true, TopLogprobs = top,
        }, http.RequestAborted);
        string id = NewId("chatcmpl-");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string modelName = req.Model!;
        var logprobs = top >= 0 ? new List<object>() : null;

        if (req.Stream != true)
        {
            var result = await ModelLease.PumpAsync(http, handle, pieces => { AddLogprobs(logprobs, pieces); return Task.CompletedTask; });
            object message = new { role = "assistant", content = result.Text };
            bool calls = false;
            if (toolParser is { } parser && parser.TryParse(result.Text, out var parsed, out string rest))
            {
                calls = true;
                message = new { role = "assistant", content = rest.Length > 0 ? rest : null, tool_calls = ToolCallWire.OpenAi(parsed) };
            }
            await Json.WriteAsync(http, new
            {
                id, @object = "chat.completion", created, model = modelName, system_fingerprint = "qwensharp",
                choices = new[]
                {
                    new { index = 0, message, logprobs = logprobs is null ? null : new { content = logprobs }, finish_reason = FinishReason(result, calls) },
                },
                usage = Usage(result),
            });
            return;
        }

        await StartSse(http);
        await Sse(http, Chunk(id, created, modelName, new { role = "assistant", content = "" }, null, null));
        // With tools, text that may be a call is held back; the calls go out whole at the end.
        var holdBack = toolParser is { } streamParser ? new ToolCallHoldBack(streamParser) : null;
        var final = await ModelLease.PumpAsync(http, handle, async pieces =>
        {
            foreach (var p in pieces)
            {
                string text = holdBack?.Add(p.Text) ?? p.Text;
                if (text.Length == 0 && (top < 0 || p.Token < 0)) continue;
                object? lp = null;
                if (top >= 0 && p.Token >= 0) lp = new { content = new[] { LogprobEntry(p) } };
                await Sse(http, Chunk(id, created, modelName, new { content = text }, lp, null));
            }
            await http.Response.Body.FlushAsync(http.RequestAborted);
        });
        bool streamedCalls = false;
        if (holdBack is not null)
        {
            var (held, calls) = holdBack.Finish();
            if (held.Length > 0) await Sse(http, Chunk(id, created, modelName, new { content = held }, null, null));
            if (calls.Count > 0)
            {
                streamedCalls = true;
                await Sse(http, Chunk(id, created, modelName, new { tool_calls = ToolCallWire.OpenAiDelta(calls) }, null, null));
            }
        }
        await Sse(http, Chunk(id, created, modelName, new { }, null, FinishReason(final, streamedCalls)));
        if (req.StreamOptions?.IncludeUsage == true)
            await Sse(http, new { id, @object = "chat.completion.chunk", created, model = modelName, system_fingerprint = "qwensharp", choices = Array.Empty<object>(), usage = Usage(final) });
        await Done(http);
    }

    private static object Chunk(string id, long created, string model, object delta, object? logprobs, string? finish) => new
    {
        id, @object = "chat.completion.chunk", created, model, system_fingerprint = "qwensharp",
        choices = new[] { new { index = 0, delta, logprobs, finish_reason = finish } },
    };

    private static void AddLogprobs(List<object>? into, List<GeneratedPiece> pieces)
    {
        if (into is null) return;
        foreach (var p in pieces) if (p.Token >= 0) into.Add(LogprobEntry(p));
    }

    private static object LogprobEntry(GeneratedPiece p) => new
    {
        token = p.Text, logprob = p.Logprob, bytes = System.Text.Encoding.UTF8.GetBytes(p.Text),
        top_logprobs = (p.TopLogprobs ?? []).Select(t => new { token = t.Text, logprob = t.Logprob, bytes = System.Text.Encoding.UTF8.GetBytes(t.Text) }),
    };

    private static async Task Completions(HttpContext http, ModelRegistry registry)
    {
        var req = await Json.BodyAsync<OpenAiCompletionRequest>(http);
        int top = req.Logprobs is int lp ? (lp is >= 0 and <= 5 ? lp : throw ApiException.BadRequest("logprobs must be between 0 and 5", "logprobs")) : -1;
        var genOptions = Options(req, 16);
        using var lease = await ModelLease.AcquireAsync(registry, req.Model, null);
        var tokenizer = lease.Model.Model.Tokenizer;
        int[] prompt = PromptTokens(req.Prompt, tokenizer);
        var handle = lease.Scheduler.Submit(new GenerationRequest(prompt, genOptions)
        {
            ContextLimit = req.NumCtx, TruncatePrompt = req.Truncate == true, TopLogprobs = top,
        }, http.RequestAborted);
        string id = NewId("cmpl-");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string modelName = req.Model!;
        string echo = req.Echo == true ? tokenizer.Decode(prompt) : "";

        if (req.Stream != true)
        {
            var tokens = new List<string>();
            var tokenLogprobs = new List<float>();
            var tops = new List<Dictionary<string, float>>();
            var offsets = new List<int>();
            int offset = echo.Length;
            var result = await ModelLease.PumpAsync(http, handle, pieces =>
            {
                foreach (var p in pieces)
                {
                    if (top < 0 || p.Token < 0) continue;
                    tokens.Add(p.Text);
                    tokenLogprobs.Add(p.Logprob);
                    tops.Add(TopMap(p));
                    offsets.Add(offset);
                    offset += p.Text.Length;
                }
                return Task.CompletedTask;
            });
            await Json.WriteAsync(http, new
            {
                id, @object = "text_completion", created, model = modelName, system_fingerprint = "qwensharp",
                choices = new[]
                {
                    new
                    {
                        text = echo + result.Text, index = 0,
                        logprobs = top < 0 ? null : new { tokens, token_logprobs = tokenLogprobs, top_logprobs = tops, text_offset = offsets },
                        finish_reason = FinishReason(result),
                    },
                },
                usage = Usage(result),
            });
            return;
        }

        await StartSse(http);
        if (echo.Length > 0) await Sse(http, CompletionChunk(id, created, modelName, echo, null, null));
        var final = await ModelLease.PumpAsync(http, handle, async pieces =>
        {
            foreach (var p in pieces)
            {
                if (p.Text.Length == 0 && (top < 0 || p.Token < 0)) continue;
                object? lp = top >= 0 && p.Token >= 0
                    ? new { tokens = new[] { p.Text }, token_logprobs = new[] { p.Logprob }, top_logprobs = new[] { TopMap(p) } }
                    : null;
                await Sse(http, CompletionChunk(id, created, modelName, p.Text, lp, null));
            }
            await http.Response.Body.FlushAsync(http.RequestAborted);
        });
        await Sse(http, CompletionChunk(id, created, modelName, "", null, FinishReason(final)));
        if (req.StreamOptions?.IncludeUsage == true)
            await Sse(http, new { id, @object = "text_completion", created, model = modelName, choices = Array.Empty<object>(), usage = Usage(final) });
        await Done(http);
    }

    private static object CompletionChunk(string id, long created, string model, string text, object? logprobs, string? finish) => new
    {
        id, @object = "text_completion", created, model, system_fingerprint = "qwensharp",
        choices = new[] { new { text, index = 0, logprobs, finish_reason = finish } },
    };

    private static Dictionary<string, float> TopMap(GeneratedPiece p)
    {
        var map = new Dictionary<string, float>();
        foreach (var t in p.TopLogprobs ?? []) map.TryAdd(t.Text, t.Logprob);
        return map;
    }

    private static int[] PromptTokens(JsonElement? prompt, Tokenization.QwenTokenizer tokenizer)
    {
        if (prompt is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            throw ApiException.BadRequest("prompt is required", "prompt");
        if (e.ValueKind == JsonValueKind.String) return tokenizer.Encode(e.GetString()!, parseSpecial: true);
        if (e.ValueKind == JsonValueKind.Array)
        {
            var items = e.EnumerateArray().ToArray();
            if (items.Length == 1 && items[0].ValueKind == JsonValueKind.String) return tokenizer.Encode(items[0].GetString()!, parseSpecial: true);
            if (items.Length > 0 && items.All(i => i.ValueKind == JsonValueKind.Number)) return items.Select(i => i.GetInt32()).ToArray();
            if (items.Length == 1 && items[0].ValueKind == JsonValueKind.Array) return PromptTokens(items[0], tokenizer);
            throw ApiException.BadRequest("prompt must be a string, one string in an array, or an array of token ids (batches are not supported)", "prompt");
        }
        throw ApiException.BadRequest("prompt must be a string or an array", "prompt");
    }

    private static async Task Embeddings(HttpContext http, ModelRegistry registry)
    {
        var req = await Json.BodyAsync<OpenAiEmbeddingRequest>(http);
        if (req.EncodingFormat is not (null or "float" or "base64"))
            throw ApiException.BadRequest("encoding_format must be float or base64", "encoding_format");
        using var lease = await ModelLease.AcquireAsync(registry, req.Model, null);
        var tokenizer = lease.Model.Model.Tokenizer;
        var inputs = EmbeddingInputs(req.Input, tokenizer);
        var data = new List<object>();
        int total = 0;
        for (int i = 0; i < inputs.Count; i++)
        {
            total += inputs[i].Length;
            var v = await lease.Scheduler.EmbedAsync(inputs[i], EmbeddingPooling.Mean, normalize: true, truncate: false, cancel: http.RequestAborted);
            if (req.Dimensions is int d && d > 0 && d < v.Length) v = OllamaEndpoints.Normalize(v[..d]);
            object embedding = req.EncodingFormat == "base64" ? Convert.ToBase64String(MemoryMarshal.AsBytes(v.AsSpan())) : v;
            data.Add(new { @object = "embedding", index = i, embedding });
        }
        await Json.WriteAsync(http, new { @object = "list", data, model = req.Model, usage = new { prompt_tokens = total, total_tokens = total } });
    }

    private static List<int[]> EmbeddingInputs(JsonElement? input, Tokenization.QwenTokenizer tokenizer)
    {
        if (input is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            throw ApiException.BadRequest("input is required", "input");
        int[] Text(string s)
        {
            if (s.Length == 0) throw ApiException.BadRequest("input must not be an empty string", "input");
            return tokenizer.Encode(s, parseSpecial: false);
        }
        if (e.ValueKind == JsonValueKind.String) return [Text(e.GetString()!)];
        if (e.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest("input must be a string or an array", "input");
        var items = e.EnumerateArray().ToArray();
        if (items.Length == 0) throw ApiException.BadRequest("input must not be empty", "input");
        if (items.All(i => i.ValueKind == JsonValueKind.Number)) return [items.Select(i => i.GetInt32()).ToArray()];
        var result = new List<int[]>();
        foreach (var item in items)
        {
            if (item.ValueKind == JsonValueKind.String) result.Add(Text(item.GetString()!));
            else if (item.ValueKind == JsonValueKind.Array && item.EnumerateArray().All(i => i.ValueKind == JsonValueKind.Number))
                result.Add(item.EnumerateArray().Select(i => i.GetInt32()).ToArray());
            else throw ApiException.BadRequest("input must be strings or arrays of token ids", "input");
        }
        return result;
    }

    private static Task StartSse(HttpContext http)
    {
        http.Response.StatusCode = 200;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        return http.Response.StartAsync(http.RequestAborted);
    }

    private static async Task Sse(HttpContext http, object value)
    {
        await http.Response.Body.WriteAsync("data: "u8.ToArray(), http.RequestAborted);
        await http.Response.Body.WriteAsync(Json.Bytes(value), http.RequestAborted);
        await http.Response.Body.WriteAsync("\n\n"u8.ToArray(), http.RequestAborted);
    }

    private static async Task Done(HttpContext http)
    {
        await http.Response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}

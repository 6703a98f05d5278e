using Microsoft.AspNetCore.Http;
using QwenSharp.Generation;

namespace QwenSharp.Server;

/// <summary>Turns every failure into a JSON error with the right status, in the dialect of the API that was called:
/// Ollama's {"error": "..."} or OpenAI's {"error": {"message", "type", "param", "code"}}. Nothing escapes to crash
/// the process; a client that went away gets nothing.</summary>
internal static class ErrorHandling
{
    public static async Task Middleware(HttpContext http, RequestDelegate next, ServerCounters counters)
    {
        counters.HttpRequest();
        try
        {
            await next(http);
            if (http.Response.StatusCode >= 400) counters.HttpError();
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // the client disconnected; its generation was cancelled with the request
        }
        catch (Exception e)
        {
            counters.HttpError();
            var (status, type, param) = Classify(e);
            if (http.Response.HasStarted)
            {
                // Mid-stream: the status line is gone, so the error goes in the stream, as Ollama and OpenAI do.
                await TryWriteStreamError(http, e.Message);
                return;
            }
            http.Response.Clear();
            await Json.WriteAsync(http, Body(http, e.Message, type, param, status), status);
        }
    }

    public static (int Status, string Type, string? Param) Classify(Exception e) => e switch
    {
        ApiException a => (a.Status, a.Type, a.Param),
        BadHttpRequestException b => (b.StatusCode, b.StatusCode == 413 ? "request_too_large" : "invalid_request_error", null),
        SchedulerQueueFullException => (503, "server_busy", null),
        PromptTooLongException => (400, "context_length_exceeded", "messages"),
        ModelFileException => (500, "model_error", null),
        QwenSharpException => (400, "invalid_request_error", null),
        _ => (500, "server_error", null),
    };

    public static object Body(HttpContext http, string message, string type, string? param, int status) =>
        IsOpenAi(http)
            ? new { error = new { message, type, param, code = (string?)null } }
            : new { error = message };

    public static bool IsOpenAi(HttpContext http) => http.Request.Path.StartsWithSegments("/v1");

    public static async Task TryWriteStreamError(HttpContext http, string message)
    {
        try
        {
            var (status, type, param) = (500, "server_error", (string?)null);
            byte[] json = Json.Bytes(Body(http, message, type, param, status));
            if (IsOpenAi(http))
            {
                await http.Response.Body.WriteAsync("data: "u8.ToArray());
                await http.Response.Body.WriteAsync(json);
                await http.Response.Body.WriteAsync("\n\n"u8.ToArray());
            }
            else
            {
                await http.Response.Body.WriteAsync(json);
                await http.Response.Body.WriteAsync("\n"u8.ToArray());
            }
            await http.Response.Body.FlushAsync();
        }
        catch (Exception)
        {
            // the connection is gone; nothing more to say
        }
    }
}

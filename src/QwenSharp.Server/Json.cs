using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace QwenSharp.Server;

/// <summary>How the server reads and writes JSON: requests in snake_case onto C# properties, responses as written
/// (anonymous objects with the wire names), nulls left out.</summary>
internal static class Json
{
    public static readonly JsonSerializerOptions Read = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Non-ASCII text is written as UTF-8, not \uXXXX escapes, as Ollama and OpenAI do (the body is JSON
    /// served as application/json or inside SSE, never embedded in HTML).</summary>
    public static readonly JsonSerializerOptions Write = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The request body as T; malformed JSON or a wrong field type is a 400 naming the problem.</summary>
    public static async Task<T> BodyAsync<T>(HttpContext http) where T : class
    {
        T? value;
        try
        {
            value = await JsonSerializer.DeserializeAsync<T>(http.Request.Body, Read, http.RequestAborted);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("invalid JSON body: " + (e.Path is { Length: > 1 } path ? $"{path}: " : "") + FirstLine(e.Message));
        }
        return value ?? throw ApiException.BadRequest("the request body must be a JSON object");
    }

    private static string FirstLine(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    public static Task WriteAsync(HttpContext http, object value, int status = 200)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json; charset=utf-8";
        return JsonSerializer.SerializeAsync(http.Response.Body, value, value.GetType(), Write, http.RequestAborted);
    }

    public static byte[] Bytes(object value) => JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), Write);

    /// <summary>A field that may be a string or an array of strings (stop, input).</summary>
    public static List<string>? Strings(JsonElement? value, string field)
    {
        if (value is not JsonElement e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return null;
        if (e.ValueKind == JsonValueKind.String) return [e.GetString()!];
        if (e.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"{field} must be a string or an array of strings", field);
        var list = new List<string>();
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw ApiException.BadRequest($"{field} must be a string or an array of strings", field);
            list.Add(item.GetString()!);
        }
        return list;
    }
}

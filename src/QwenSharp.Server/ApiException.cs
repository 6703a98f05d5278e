namespace QwenSharp.Server;

/// <summary>A request the server refuses, with the HTTP status to answer.</summary>
public sealed class ApiException(int status, string message, string type = "invalid_request_error", string? param = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;

    public static ApiException BadRequest(string message, string? param = null) => new(400, message, param: param);
    public static ApiException ModelNotFound(string name) => new(404, $"model \"{name}\" not found", "not_found_error", "model");
}

namespace QwenSharp.Chat;

/// <summary>One message of a conversation; Role is "system", "user" or "assistant" (any string is rendered as given).</summary>
public sealed partial record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}

namespace QwenSharp.Chat.Jinja;

/// <summary>namespace(...): the one object a template may change, so a value set inside a loop survives it.</summary>
internal sealed class Namespace
{
    public PyDict Attributes { get; } = new();
}

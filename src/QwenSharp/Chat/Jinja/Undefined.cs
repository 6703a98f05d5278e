namespace QwenSharp.Chat.Jinja;

/// <summary>Jinja's default Undefined: what a missing variable, key or attribute evaluates to. It prints as "",
/// is false, iterates as empty and has length 0, but using it any other way (an attribute of it, arithmetic,
/// calling it) is an error naming what was missing. An unsafe member (a list's append in the immutable sandbox)
/// is an Undefined whose use is a security error.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Instance = new("value is undefined");

    /// <summary>The error message for using this value, e.g. "'dict object' has no attribute 'x'".</summary>
    public string Message { get; }

    public Undefined(string message)
    {
        Message = message;
    }

    public static Undefined Variable(string name) => new($"'{name}' is undefined");

    public static Undefined Member(object? owner, string member) =>
        new($"'{PyStr.TypeName(owner)} object' has no attribute '{member}'");

    public static Undefined Item(object? owner, object? key) =>
        new($"'{PyStr.TypeName(owner)} object' has no element {PyStr.Repr(key)}");

    public TemplateError Fail() => new(Message);
}

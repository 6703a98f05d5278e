namespace QwenSharp.Chat.Jinja;

/// <summary>A position in the template source, 1-based.</summary>
internal readonly record struct SourcePos(int Line, int Column);

/// <summary>An error raised while rendering, before its position is known: the evaluator fills the position in
/// at the innermost node that sees it, and the public entry point turns it into a ChatTemplateException.</summary>
internal sealed class TemplateError : Exception
{
    public SourcePos? Position { get; set; }

    public TemplateError(string message, SourcePos? position = null) : base(message)
    {
        Position = position;
    }

    public ChatTemplateException ToPublic()
    {
        var p = Position ?? new SourcePos(1, 1);
        return new ChatTemplateException(Message, p.Line, p.Column);
    }
}

namespace QwenSharp.Chat;

/// <summary>A chat template that cannot be parsed or rendered: a syntax error, a runtime error (an undefined
/// value used, a type error, <c>raise_exception(...)</c> called by the template itself) or a limit reached.
/// <see cref="Line"/> and <see cref="Column"/> (both 1-based) point into the template source.</summary>
public sealed class ChatTemplateException : QwenSharpException
{
    public int Line { get; }
    public int Column { get; }

    /// <summary>The problem without the position prefix (for a raise_exception call: the template's own message).</summary>
    public string Problem { get; }

    public ChatTemplateException(string problem, int line, int column)
        : base($"chat template error at line {line}, column {column}: {problem}")
    {
        Problem = problem;
        Line = line;
        Column = column;
    }
}

using QwenSharp.Chat.Jinja;

namespace QwenSharp.Chat;

/// <summary>
/// A model's Jinja chat template, rendered the way HuggingFace's apply_chat_template renders it (Jinja2's
/// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension, the
/// {% generation %} tag, and the globals raise_exception and strftime_now; tojson is json.dumps with
/// ensure_ascii off). The engine is our own (Chat/Jinja): sandboxed, and bounded by <see cref="ChatTemplateLimits"/>.
/// A parsed template is immutable; Render may be called from several threads at once.
/// </summary>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<Stmt> _body;

    public string Source { get; }
    public ChatTemplateLimits Limits { get; }

    private ChatTemplate(string source, IReadOnlyList<Stmt> body, ChatTemplateLimits limits)
    {
        Source = source;
        _body = body;
        Limits = limits;
    }

    /// <summary>Parses <paramref name="source"/>; a syntax error is a <see cref="ChatTemplateException"/> with
    /// its line and column.</summary>
    public static ChatTemplate Parse(string source, ChatTemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        limits ??= ChatTemplateLimits.Default;
        try
        {
            return new ChatTemplate(source, Parser.Parse(source, limits.MaxNesting), limits);
        }
        catch (TemplateError e)
        {
            throw e.ToPublic();
        }
    }

    /// <summary>The prompt text. Errors (including the template's own raise_exception) and limits reached are
    /// <see cref="ChatTemplateException"/>s with the line and column of the failing expression.</summary>
    public string Render(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var globals = new Interpreter.Frame(null);
        Globals.AddTo(globals, Limits, input.Now ?? DateTime.Now);
        globals.Set("messages", TemplateValues.FromJson(input.Messages));
        globals.Set("tools", input.Tools is null ? null : TemplateValues.FromJson(input.Tools));
        globals.Set("documents", null);
        globals.Set("add_generation_prompt", input.AddGenerationPrompt);
        if (input.BosToken is not null) globals.Set("bos_token", input.BosToken);
        if (input.EosToken is not null) globals.Set("eos_token", input.EosToken);
        foreach (var (name, value) in input.Variables) globals.Set(name, TemplateValues.FromJson(value));
        try
        {
            return new Interpreter(Limits).Render(_body, globals);
        }
        catch (TemplateError e)
        {
            throw e.ToPublic();
        }
    }
}

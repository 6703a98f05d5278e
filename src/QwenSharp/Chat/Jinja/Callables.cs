namespace QwenSharp.Chat.Jinja;

/// <summary>Evaluated call arguments, and Python-style binding of them to parameter names.</summary>
internal sealed class Arguments
{
    /// <summary>Marks a required parameter in <see cref="Bind"/>'s defaults.</summary>
    public static readonly object Required = new();

    public List<object?> Positional { get; } = [];
    public List<KeyValuePair<string, object?>> Named { get; } = [];

    public static Arguments Of(params object?[] positional)
    {
        var a = new Arguments();
        a.Positional.AddRange(positional);
        return a;
    }

    /// <summary>Binds to <paramref name="names"/>: positionally first, then by name, then from
    /// <paramref name="defaults"/> (same length as names; <see cref="Required"/> where there is none).
    /// Too many arguments, unknown names and missing required ones are errors, as in Python.</summary>
    public object?[] Bind(string function, string[] names, object?[] defaults)
    {
        if (Positional.Count > names.Length)
            throw new TemplateError($"{function}() takes at most {names.Length} argument(s) ({Positional.Count} given)");
        var values = new object?[names.Length];
        var set = new bool[names.Length];
        for (int i = 0; i < Positional.Count; i++)
        {
            values[i] = Positional[i];
            set[i] = true;
        }
        foreach (var (key, value) in Named)
        {
            int i = Array.IndexOf(names, key);
            if (i < 0) throw new TemplateError($"{function}() got an unexpected keyword argument '{key}'");
            if (set[i]) throw new TemplateError($"{function}() got multiple values for argument '{key}'");
            values[i] = value;
            set[i] = true;
        }
        for (int i = 0; i < names.Length; i++)
        {
            if (set[i]) continue;
            if (ReferenceEquals(defaults[i], Required))
                throw new TemplateError($"{function}() missing required argument '{names[i]}'");
            values[i] = defaults[i];
        }
        return values;
    }

    /// <summary>For functions without parameters.</summary>
    public void BindNone(string function)
    {
        if (Positional.Count > 0 || Named.Count > 0) throw new TemplateError($"{function}() takes no arguments");
    }
}

/// <summary>Anything a template can call: a global function, a method bound to its value, a macro.</summary>
internal interface ICallable
{
    string Name { get; }
    object? Call(Interpreter interpreter, Arguments args);
}

internal sealed class BuiltinFunction(string name, Func<Interpreter, Arguments, object?> body) : ICallable
{
    public string Name { get; } = name;
    public object? Call(Interpreter interpreter, Arguments args) => body(interpreter, args);
}

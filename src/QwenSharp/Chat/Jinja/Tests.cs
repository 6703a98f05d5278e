namespace QwenSharp.Chat.Jinja;

/// <summary>Jinja's tests ("x is defined", "x is not none", "x is equalto 3", ...), with Python's type rules
/// (bool is a number but not an integer; a dict is a mapping and a sequence).</summary>
internal static class Tests
{
    public static bool Exists(string name) => Names.Contains(name);

    private static readonly HashSet<string> Names =
    [
        "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "callable", "sameas", "equalto", "eq", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=",
        "gt", "greaterthan", ">", "ge", ">=", "in", "odd", "even", "divisibleby", "lower", "upper", "escaped", "filter", "test",
    ];

    public static bool Apply(string name, object? value, Arguments args)
    {
        object? Other()
        {
            var p = args.Bind(name, ["other"], [Arguments.Required]);
            return p[0];
        }
        switch (name)
        {
            case "defined": args.BindNone(name); return value is not Undefined;
            case "undefined": args.BindNone(name); return value is Undefined;
            case "none": args.BindNone(name); return value is null;
            case "boolean": args.BindNone(name); return value is bool;
            case "false": args.BindNone(name); return value is false;
            case "true": args.BindNone(name); return value is true;
            case "integer": args.BindNone(name); return value is long;
            case "float": args.BindNone(name); return value is double;
            case "number": args.BindNone(name); return value is bool or long or double;
            case "string": args.BindNone(name); return value is string;
            case "mapping": args.BindNone(name); return value is PyDict;
            case "iterable": args.BindNone(name); return value is string or List<object?> or PyTuple or PyDict or Undefined;
            case "sequence": args.BindNone(name); return value is string or List<object?> or PyTuple or PyDict;
            case "callable": args.BindNone(name); return value is ICallable;
            case "sameas":
                object? other = Other();
                return value is null || value is bool || value is long ? PyOps.Equal(value, other) && value?.GetType() == other?.GetType() : ReferenceEquals(value, other);
            case "equalto" or "eq" or "==": return PyOps.Equal(value, Other());
            case "ne" or "!=": return !PyOps.Equal(value, Other());
            case "lt" or "lessthan" or "<": return PyOps.Compare(value, Other(), "<") < 0;
            case "le" or "<=": return PyOps.Compare(value, Other(), "<=") <= 0;
            case "gt" or "greaterthan" or ">": return PyOps.Compare(value, Other(), ">") > 0;
            case "ge" or ">=": return PyOps.Compare(value, Other(), ">=") >= 0;
            case "in": return PyOps.Contains(args.Bind(name, ["seq"], [Arguments.Required])[0], value);
            case "odd": args.BindNone(name); return PyOps.Equal(PyOps.Binary("%", value, 2L, 0), 1L);
            case "even": args.BindNone(name); return PyOps.Equal(PyOps.Binary("%", value, 2L, 0), 0L);
            case "divisibleby":
                object? by = args.Bind(name, ["num"], [Arguments.Required])[0];
                return PyOps.Equal(PyOps.Binary("%", value, by, 0), 0L);
            case "lower": args.BindNone(name); { string s = PyStr.Str(value); return s.Any(char.IsLower) && !s.Any(char.IsUpper); }
            case "upper": args.BindNone(name); { string s = PyStr.Str(value); return s.Any(char.IsUpper) && !s.Any(char.IsLower); }
            case "escaped": args.BindNone(name); return false;
            case "filter": args.BindNone(name); return value is string f && Filters.Exists(f);
            case "test": args.BindNone(name); return value is string t && Exists(t);
            default: throw new TemplateError($"no test named '{name}'");
        }
    }
}

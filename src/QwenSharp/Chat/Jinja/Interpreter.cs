using System.Runtime.CompilerServices;
using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>
/// Runs a parsed template (statements here, expressions in Interpreter.Expressions.cs) with Jinja's scoping:
/// each for-loop iteration and each macro call gets its own frame (a set inside them is not seen outside, which
/// is why templates use namespace()), if-blocks share their enclosing frame. Every statement, expression and loop
/// iteration is a step against <see cref="ChatTemplateLimits.MaxSteps"/>; output and built values are bounded by
/// MaxOutputLength; macro calls by MaxCallDepth.
/// </summary>
internal sealed partial class Interpreter
{
    private long _steps;
    private int _callDepth;

    public ChatTemplateLimits Limits { get; }

    public Interpreter(ChatTemplateLimits limits)
    {
        Limits = limits;
    }

    /// <summary>One scope's variables. Scopes hold few names, so a linear search beats a dictionary, and a loop
    /// iteration's scope is one small allocation.</summary>
    internal sealed class Frame(Frame? parent)
    {
        // The first two variables live in fields (a loop iteration needs just its target and "loop"), more in arrays.
        private string? _name0, _name1;
        private object? _value0, _value1;
        private string[]? _names;
        private object?[]? _values;
        private int _count;

        public Frame? Parent { get; } = parent;

        public void Set(string name, object? value)
        {
            int i = IndexOf(name);
            if (i < 0)
            {
                i = _count++;
                if (i >= 2)
                {
                    if (_names is null || i - 2 == _names.Length)
                    {
                        int size = Math.Max(4, (_names?.Length ?? 0) * 2);
                        Array.Resize(ref _names, size);
                        Array.Resize(ref _values, size);
                    }
                    _names[i - 2] = name;
                }
                else if (i == 0) _name0 = name;
                else _name1 = name;
            }
            if (i == 0) _value0 = value;
            else if (i == 1) _value1 = value;
            else _values![i - 2] = value;
        }

        private int IndexOf(string name)
        {
            if (_count > 0 && string.Equals(_name0, name, StringComparison.Ordinal)) return 0;
            if (_count > 1 && string.Equals(_name1, name, StringComparison.Ordinal)) return 1;
            for (int i = 2; i < _count; i++)
                if (string.Equals(_names![i - 2], name, StringComparison.Ordinal)) return i;
            return -1;
        }

        public object? Lookup(string name)
        {
            for (Frame? f = this; f is not null; f = f.Parent)
            {
                int i = f.IndexOf(name);
                if (i >= 0) return i == 0 ? f._value0 : i == 1 ? f._value1 : f._values![i - 2];
            }
            return Undefined.Variable(name);
        }
    }

    /// <summary>Rendered text with a length bound.</summary>
    internal sealed class Output(int maxLength)
    {
        private readonly StringBuilder _sb = new();

        public void Append(string text)
        {
            if (_sb.Length + (long)text.Length > maxLength)
                throw new TemplateError($"rendered output is longer than the limit of {maxLength} characters");
            _sb.Append(text);
        }

        public override string ToString() => _sb.ToString();
    }

    private enum Flow { Normal, Break, Continue }

    public string Render(IReadOnlyList<Stmt> template, Frame globals)
    {
        var output = new Output(Limits.MaxOutputLength);
        ExecBody(template, new Frame(globals), output);
        return output.ToString();
    }

    public void Step()
    {
        if (++_steps > Limits.MaxSteps)
            throw new TemplateError($"template ran more than the limit of {Limits.MaxSteps} steps");
    }

    private static void CheckStack()
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new TemplateError("template recursion is too deep");
    }

    private Flow ExecBody(IReadOnlyList<Stmt> body, Frame frame, Output output)
    {
        CheckStack();
        for (int i = 0; i < body.Count; i++)
        {
            Stmt stmt = body[i];
            Flow flow;
            try
            {
                Step();
                flow = Exec(stmt, frame, output);
            }
            catch (TemplateError e) when (e.Position is null)
            {
                e.Position = stmt.Pos;
                throw;
            }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt stmt, Frame frame, Output output)
    {
        switch (stmt)
        {
            case TextStmt t:
                output.Append(t.Text);
                return Flow.Normal;
            case OutputStmt o:
                output.Append(PyStr.Str(Eval(o.Value, frame)));
                return Flow.Normal;
            case IfStmt s:
                foreach (var (condition, body) in s.Branches)
                    if (PyOps.Truthy(Eval(condition, frame))) return ExecBody(body, frame, output);
                return s.Else is null ? Flow.Normal : ExecBody(s.Else, frame, output);
            case ForStmt f:
                ExecFor(f, frame, output);
                return Flow.Normal;
            case SetStmt s:
                Assign(s.Target, Eval(s.Value, frame), frame);
                return Flow.Normal;
            case SetBlockStmt s:
                Assign(s.Target, ApplyFilters(s.Filters, Capture(s.Body, frame), frame), frame);
                return Flow.Normal;
            case MacroStmt m:
                frame.Set(m.Name, new Macro(m, frame));
                return Flow.Normal;
            case FilterBlockStmt fb:
                output.Append(PyStr.Str(ApplyFilters(fb.Filters, Capture(fb.Body, frame), frame)));
                return Flow.Normal;
            case ScopeStmt sc:
                return ExecBody(sc.Body, frame, output);
            case BreakStmt:
                return Flow.Break;
            case ContinueStmt:
                return Flow.Continue;
            default:
                throw new TemplateError($"unknown statement {stmt.GetType().Name}");
        }
    }

    private string Capture(IReadOnlyList<Stmt> body, Frame frame)
    {
        var buffer = new Output(Limits.MaxOutputLength);
        ExecBody(body, new Frame(frame), buffer);
        return buffer.ToString();
    }

    private object? ApplyFilters(IReadOnlyList<FilterExpr> filters, object? value, Frame frame)
    {
        foreach (FilterExpr f in filters)
        {
            try
            {
                value = Filters.Apply(this, f.Name, value, EvalArguments(f.Args, frame));
            }
            catch (TemplateError e) when (e.Position is null)
            {
                e.Position = f.Pos;
                throw;
            }
        }
        return value;
    }

    private void ExecFor(ForStmt f, Frame frame, Output output)
    {
        object? iterable = Eval(f.Iterable, frame);
        List<object?> items;
        try
        {
            items = PyOps.ToList(iterable);
        }
        catch (TemplateError e) when (e.Position is null)
        {
            e.Position = f.Iterable.Pos;
            throw;
        }
        if (f.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (object? item in items)
            {
                Step();
                var test = new Frame(frame);
                Assign(f.Target, item, test);
                if (PyOps.Truthy(Eval(f.Filter, test))) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) ExecBody(f.Else, new Frame(frame), output);
            return;
        }
        var loop = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            Step();
            var iteration = new Frame(frame);
            Assign(f.Target, items[i], iteration);
            loop.Index0 = i;
            iteration.Set("loop", loop);
            if (ExecBody(f.Body, iteration, output) == Flow.Break) break;
        }
    }

    private void Assign(AssignTarget target, object? value, Frame frame)
    {
        switch (target)
        {
            case NameTarget n:
                frame.Set(n.Name, value);
                break;
            case TupleTarget t:
                var items = PyOps.ToList(value);
                if (items.Count != t.Items.Count)
                    throw new TemplateError(items.Count > t.Items.Count
                        ? $"too many values to unpack (expected {t.Items.Count})"
                        : $"not enough values to unpack (expected {t.Items.Count}, got {items.Count})");
                for (int i = 0; i < items.Count; i++) Assign(t.Items[i], items[i], frame);
                break;
            case AttributeTarget a:
                if (frame.Lookup(a.Object) is not Namespace ns)
                    throw new TemplateError("cannot assign attribute on non-namespace object");
                ns.Attributes.Set(a.Attribute, value);
                break;
        }
    }

    /// <summary>A {% macro %}: called like a function, it renders its body in a fresh frame over the frame it was
    /// defined in and returns the text. Missing arguments without a default are undefined, as in Jinja.</summary>
    private sealed class Macro(MacroStmt definition, Frame closure) : ICallable
    {
        public string Name => definition.Name;

        public object? Call(Interpreter it, Arguments args)
        {
            if (it._callDepth >= it.Limits.MaxCallDepth)
                throw new TemplateError($"macro calls nested deeper than the limit of {it.Limits.MaxCallDepth}");
            var parameters = definition.Parameters;
            if (args.Positional.Count > parameters.Count && !definition.UsesVarargs)
                throw new TemplateError($"macro '{Name}' takes not more than {parameters.Count} argument(s)");
            var frame = new Frame(closure);
            var set = new bool[parameters.Count];
            for (int i = 0; i < Math.Min(parameters.Count, args.Positional.Count); i++)
            {
                frame.Set(parameters[i].Name, args.Positional[i]);
                set[i] = true;
            }
            var kwargs = new PyDict();
            foreach (var (key, value) in args.Named)
            {
                int i = -1;
                for (int j = 0; j < parameters.Count; j++)
                    if (parameters[j].Name == key) i = j;
                if (i >= 0)
                {
                    if (set[i]) throw new TemplateError($"macro '{Name}' got multiple values for argument '{key}'");
                    frame.Set(key, value);
                    set[i] = true;
                }
                else if (definition.UsesKwargs) kwargs.Set(key, value);
                else throw new TemplateError($"macro '{Name}' takes no keyword argument '{key}'");
            }
            frame.Set("varargs", new PyTuple(args.Positional.Skip(parameters.Count).ToList()));
            frame.Set("kwargs", kwargs);
            it._callDepth++;
            try
            {
                for (int i = 0; i < parameters.Count; i++)
                {
                    if (set[i]) continue;
                    frame.Set(parameters[i].Name, parameters[i].Default is { } def
                        ? it.Eval(def, frame)
                        : new Undefined($"parameter '{parameters[i].Name}' was not provided"));
                }
                var output = new Output(it.Limits.MaxOutputLength);
                it.ExecBody(definition.Body, frame, output);
                return output.ToString();
            }
            finally
            {
                it._callDepth--;
            }
        }
    }
}

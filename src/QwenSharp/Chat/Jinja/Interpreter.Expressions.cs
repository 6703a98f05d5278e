using System.Text;

namespace QwenSharp.Chat.Jinja;

/// <summary>Expression evaluation. An error raised anywhere below gets the position of the innermost expression
/// that sees it, so messages point at the failing operator, call, filter or name.</summary>
internal sealed partial class Interpreter
{
    public object? Eval(Expr expr, Frame frame)
    {
        Step();
        try
        {
            return EvalNode(expr, frame);
        }
        catch (TemplateError e) when (e.Position is null)
        {
            e.Position = expr.Pos;
            throw;
        }
    }

    private object? EvalNode(Expr expr, Frame frame)
    {
        int max = Limits.MaxOutputLength;
        switch (expr)
        {
            case LiteralExpr l: return l.Value;
            case NameExpr n: return frame.Lookup(n.Name);
            case ListExpr l: return l.Items.Select(x => Eval(x, frame)).ToList();
            case TupleExpr t: return new PyTuple(t.Items.Select(x => Eval(x, frame)).ToList());
            case DictExpr d:
                var dict = new PyDict();
                foreach (var (k, v) in d.Items) dict.Set(Eval(k, frame), Eval(v, frame));
                return dict;
            case UnaryExpr u:
                object? operand = Eval(u.Operand, frame);
                return u.Op == "-" ? PyOps.Negate(operand) : PyOps.Plus(operand);
            case NotExpr n: return !PyOps.Truthy(Eval(n.Operand, frame));
            case BinaryExpr b:
                object? left = Eval(b.Left, frame);
                return PyOps.Binary(b.Op, left, Eval(b.Right, frame), max);
            case AndExpr a:
                object? first = Eval(a.Left, frame);
                return PyOps.Truthy(first) ? Eval(a.Right, frame) : first;
            case OrExpr o:
                object? either = Eval(o.Left, frame);
                return PyOps.Truthy(either) ? either : Eval(o.Right, frame);
            case CompareExpr c: return Compare(c, frame);
            case ConcatExpr c:
                var sb = new StringBuilder();
                foreach (Expr part in c.Parts)
                {
                    sb.Append(PyStr.Str(Eval(part, frame)));
                    PyOps.CheckLength(sb.Length, max);
                }
                return sb.ToString();
            case ConditionalExpr c:
                if (PyOps.Truthy(Eval(c.Condition, frame))) return Eval(c.Then, frame);
                return c.Otherwise is null
                    ? new Undefined($"the inline if-expression on line {c.Pos.Line} evaluated to false and no else section was defined")
                    : Eval(c.Otherwise, frame);
            case AttributeExpr a: return Members.GetAttr(Eval(a.Target, frame), a.Name);
            case ItemExpr i:
                object? target = Eval(i.Target, frame);
                return Members.GetItem(target, Eval(i.Key, frame));
            case SliceExpr s:
                object? sliced = Eval(s.Target, frame);
                return Members.Slice(sliced, EvalOptional(s.Start, frame), EvalOptional(s.Stop, frame), EvalOptional(s.Step, frame));
            case CallExpr c:
                object? callee = Eval(c.Callee, frame);
                return Invoke(callee, EvalArguments(c.Args, frame));
            case FilterExpr f:
                object? filtered = Eval(f.Target, frame);
                return Filters.Apply(this, f.Name, filtered, EvalArguments(f.Args, frame));
            case TestExpr t:
                object? tested = Eval(t.Target, frame);
                return Tests.Apply(t.Name, tested, EvalArguments(t.Args, frame)) != t.Negated;
            default:
                throw new TemplateError($"unknown expression {expr.GetType().Name}");
        }
    }

    private object? EvalOptional(Expr? expr, Frame frame) => expr is null ? null : Eval(expr, frame);

    private bool Compare(CompareExpr c, Frame frame)
    {
        object? left = Eval(c.First, frame);
        foreach (var (op, rightExpr) in c.Rest)
        {
            object? right = Eval(rightExpr, frame);
            bool ok = op switch
            {
                "==" => PyOps.Equal(left, right),
                "!=" => !PyOps.Equal(left, right),
                "<" => PyOps.Compare(left, right, op) < 0,
                "<=" => PyOps.Compare(left, right, op) <= 0,
                ">" => PyOps.Compare(left, right, op) > 0,
                ">=" => PyOps.Compare(left, right, op) >= 0,
                "in" => PyOps.Contains(right, left),
                "notin" => !PyOps.Contains(right, left),
                _ => throw new TemplateError($"unknown comparison '{op}'"),
            };
            if (!ok) return false;
            left = right;
        }
        return true;
    }

    private Arguments EvalArguments(CallArguments args, Frame frame)
    {
        var result = new Arguments();
        foreach (Expr e in args.Positional) result.Positional.Add(Eval(e, frame));
        if (args.StarArgs is not null) result.Positional.AddRange(PyOps.Iterate(Eval(args.StarArgs, frame)));
        foreach (var (name, e) in args.Named) result.Named.Add(new(name, Eval(e, frame)));
        if (args.StarKwargs is not null)
        {
            if (Eval(args.StarKwargs, frame) is not PyDict kw) throw new TemplateError("argument after ** must be a mapping");
            foreach (var (k, v) in kw.Items)
                result.Named.Add(new(PyDict.ExternalKey(k) as string ?? throw new TemplateError("keywords must be strings"), v));
        }
        return result;
    }

    private object? Invoke(object? callee, Arguments args) => callee switch
    {
        ICallable c => c.Call(this, args),
        Undefined u => throw u.Fail(),
        _ => throw new TemplateError($"'{PyStr.TypeName(callee)}' object is not callable"),
    };
}

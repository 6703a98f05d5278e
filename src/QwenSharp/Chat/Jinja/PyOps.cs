namespace QwenSharp.Chat.Jinja;

/// <summary>Python semantics of the operators templates use: truth, ==, ordering, + - * / // % **, "in",
/// iteration and len(). bool counts as int, int and float mix, str and list support + and *, and every mismatch
/// is a type error as in Python. Operations that build strings or lists are bounded by <c>maxLength</c>.</summary>
internal static class PyOps
{
    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        PyTuple t => t.Items.Count > 0,
        PyDict d => d.Count > 0,
        Undefined => false,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is bool or long or double;
    private static bool IsIntLike(object? v) => v is bool or long;
    private static long AsLong(object? v) => v is bool b ? (b ? 1 : 0) : (long)v!;
    public static double AsDouble(object? v) => v switch { bool b => b ? 1 : 0, long l => l, double d => d, _ => throw new InvalidCastException() };

    public static bool Equal(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return IsIntLike(a) && IsIntLike(b) ? AsLong(a) == AsLong(b) : AsDouble(a) == AsDouble(b);
        switch (a)
        {
            case null: return b is null;
            case string s: return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case List<object?> la: return b is List<object?> lb && SequenceEqual(la, lb);
            case PyTuple ta: return b is PyTuple tb && SequenceEqual(ta.Items, tb.Items);
            case PyDict da:
                if (b is not PyDict db || da.Count != db.Count) return false;
                foreach (var (k, v) in da.Items)
                    if (!db.TryGet(PyDict.ExternalKey(k), out object? w) || !Equal(v, w)) return false;
                return true;
            case Undefined: return b is Undefined;
            default: return ReferenceEquals(a, b);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (!Equal(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Ordering for &lt; &lt;= &gt; &gt;=: numbers, strings (by code unit), lists and tuples (lexicographic).</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (IsNumber(a) && IsNumber(b))
            return IsIntLike(a) && IsIntLike(b) ? AsLong(a).CompareTo(AsLong(b)) : AsDouble(a).CompareTo(AsDouble(b));
        if (a is string s && b is string t) return Math.Sign(string.CompareOrdinal(s, t));
        if (a is List<object?> la && b is List<object?> lb) return CompareSequences(la, lb, op);
        if (a is PyTuple ta && b is PyTuple tb) return CompareSequences(ta.Items, tb.Items, op);
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        throw new TemplateError($"'{op}' not supported between instances of '{PyStr.TypeName(a)}' and '{PyStr.TypeName(b)}'");
    }

    private static int CompareSequences(IReadOnlyList<object?> a, IReadOnlyList<object?> b, string op)
    {
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
            if (!Equal(a[i], b[i])) return Compare(a[i], b[i], op);
        return a.Count.CompareTo(b.Count);
    }

    /// <summary>A stable sort whose comparison may raise a template error (List.Sort would wrap it).</summary>
    public static void Sort<T>(List<T> items, Comparison<T> comparison)
    {
        try
        {
            items.Sort(comparison);
        }
        catch (InvalidOperationException e) when (e.InnerException is TemplateError inner)
        {
            throw new TemplateError(inner.Message);
        }
    }

    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string t => s.Contains(t, StringComparison.Ordinal),
        string => throw new TemplateError($"'in <string>' requires string as left operand, not {PyStr.TypeName(item)}"),
        List<object?> list => list.Any(x => Equal(x, item)),
        PyTuple t => t.Items.Any(x => Equal(x, item)),
        PyDict d => d.ContainsKey(item),
        Undefined => false,
        _ => throw new TemplateError($"argument of type '{PyStr.TypeName(container)}' is not iterable"),
    };

    public static IEnumerable<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        PyTuple t => t.Items,
        PyDict d => d.Keys.Select(PyDict.ExternalKey),
        string s => PyText.HasSurrogates(s) ? PyText.CodePoints(s) : s.Select(c => (object?)c.ToString()),
        Undefined => [],
        _ => throw new TemplateError($"'{PyStr.TypeName(value)}' object is not iterable"),
    };

    /// <summary>A snapshot list of the items (loops need the length up front for loop.last and loop.length).</summary>
    public static List<object?> ToList(object? value) => [.. Iterate(value)];

    public static long Length(object? value) => value switch
    {
        string s => PyText.Length(s),
        List<object?> list => list.Count,
        PyTuple t => t.Items.Count,
        PyDict d => d.Count,
        Undefined => 0,
        _ => throw new TemplateError($"object of type '{PyStr.TypeName(value)}' has no len()"),
    };

    public static object? Negate(object? v) => v switch
    {
        bool or long => (object)checked(-AsLong(v)),
        double d => -d,
        Undefined u => throw u.Fail(),
        _ => throw new TemplateError($"bad operand type for unary -: '{PyStr.TypeName(v)}'"),
    };

    public static object? Plus(object? v) => v switch
    {
        bool or long => (object)AsLong(v),
        double d => d,
        Undefined u => throw u.Fail(),
        _ => throw new TemplateError($"bad operand type for unary +: '{PyStr.TypeName(v)}'"),
    };

    public static object? Binary(string op, object? a, object? b, int maxLength)
    {
        if (a is Undefined ua) throw ua.Fail();
        if (b is Undefined ub) throw ub.Fail();
        try
        {
            return op switch
            {
                "+" => Add(a, b, maxLength),
                "-" => Arithmetic(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Multiply(a, b, maxLength),
                "/" => TrueDivide(a, b),
                "//" => FloorDivide(a, b),
                "%" => Modulo(a, b, maxLength),
                "**" => Power(a, b),
                _ => throw new TemplateError($"unknown operator '{op}'"),
            };
        }
        catch (OverflowException)
        {
            throw new TemplateError($"integer overflow in '{op}'");
        }
    }

    private static object? Arithmetic(string op, object? a, object? b, Func<long, long, long> ints, Func<double, double, double> floats)
    {
        if (IsIntLike(a) && IsIntLike(b)) return ints(AsLong(a), AsLong(b));
        if (IsNumber(a) && IsNumber(b)) return floats(AsDouble(a), AsDouble(b));
        throw Unsupported(op, a, b);
    }

    private static TemplateError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{PyStr.TypeName(a)}' and '{PyStr.TypeName(b)}'");

    private static object? Add(object? a, object? b, int maxLength)
    {
        switch (a)
        {
            case string s when b is string t:
                CheckLength((long)s.Length + t.Length, maxLength);
                return s + t;
            case string when b is not string:
                throw new TemplateError($"can only concatenate str (not \"{PyStr.TypeName(b)}\") to str");
            case List<object?> la when b is List<object?> lb:
                CheckLength((long)la.Count + lb.Count, maxLength);
                return new List<object?>(la.Concat(lb));
            case PyTuple ta when b is PyTuple tb:
                CheckLength((long)ta.Items.Count + tb.Items.Count, maxLength);
                return new PyTuple([.. ta.Items, .. tb.Items]);
        }
        return Arithmetic("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
    }

    private static object? Multiply(object? a, object? b, int maxLength)
    {
        if (IsIntLike(b) && a is string or List<object?> or PyTuple) return Repeat(a, AsLong(b), maxLength);
        if (IsIntLike(a) && b is string or List<object?> or PyTuple) return Repeat(b, AsLong(a), maxLength);
        return Arithmetic("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
    }

    private static object? Repeat(object? seq, long count, int maxLength)
    {
        count = Math.Max(0, count);
        switch (seq)
        {
            case string s:
                CheckLength(s.Length * (double)count, maxLength);
                return PyText.Repeat(s, count);
            case List<object?> list:
                CheckLength(list.Count * (double)count, maxLength);
                var result = new List<object?>();
                for (long i = 0; i < count; i++) result.AddRange(list);
                return result;
            default:
                var t = (PyTuple)seq!;
                CheckLength(t.Items.Count * (double)count, maxLength);
                var items = new List<object?>();
                for (long i = 0; i < count; i++) items.AddRange(t.Items);
                return new PyTuple(items);
        }
    }

    public static void CheckLength(double length, int maxLength)
    {
        if (length > maxLength) throw new TemplateError($"value too large: {length:0} items/characters (limit {maxLength})");
    }

    private static object? TrueDivide(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("/", a, b);
        double y = AsDouble(b);
        if (y == 0) throw new TemplateError("division by zero");
        return AsDouble(a) / y;
    }

    private static object? FloorDivide(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("//", a, b);
        if (AsDouble(b) == 0) throw new TemplateError("integer division or modulo by zero");
        if (IsIntLike(a) && IsIntLike(b))
        {
            long x = AsLong(a), y = AsLong(b);
            long q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            return q;
        }
        return Math.Floor(AsDouble(a) / AsDouble(b));
    }

    private static object? Modulo(object? a, object? b, int maxLength)
    {
        if (a is string format) return PercentFormat.Apply(format, b, maxLength);
        if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("%", a, b);
        if (AsDouble(b) == 0) throw new TemplateError("integer division or modulo by zero");
        if (IsIntLike(a) && IsIntLike(b))
        {
            long x = AsLong(a), y = AsLong(b);
            long r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) r += y;
            return r;
        }
        double fx = AsDouble(a), fy = AsDouble(b);
        double m = fx % fy;
        if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
        return m;
    }

    private static object? Power(object? a, object? b)
    {
        if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("**", a, b);
        if (IsIntLike(a) && IsIntLike(b) && AsLong(b) >= 0)
        {
            long x = AsLong(a), n = AsLong(b), result = 1;
            while (n > 0)
            {
                if ((n & 1) != 0) result = checked(result * x);
                n >>= 1;
                if (n > 0) x = checked(x * x);
            }
            return result;
        }
        return Math.Pow(AsDouble(a), AsDouble(b));
    }
}

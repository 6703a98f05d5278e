namespace QwenSharp.Chat.Jinja;

/// <summary>Expressions, from loosest to tightest binding as in Jinja2: conditional (x if c else y), or, and, not,
/// comparisons (== != &lt; &lt;= &gt; &gt;= in, not in), + -, ~, * / // %, ** (left-associative as in Jinja),
/// unary - +, then primary values with their postfixes (.attr, [item], [a:b:c], (call)), filters (|f) and tests
/// (is t). Every loop that wraps a node counts toward the nesting limit, so evaluating the tree cannot recurse
/// deeper than the limit either.</summary>
internal sealed partial class Parser
{
    private Expr ParseTuple(bool withCondExpr = true, bool explicitParens = false, string? extraEnd = null)
    {
        Token start = Cur;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) ExpectOp(",");
            if (IsTupleEnd(extraEnd)) break;
            items.Add(withCondExpr ? ParseExpression() : ParseOr());
            if (Cur.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count == 1) return items[0];
            if (!explicitParens) throw Error($"expected an expression, got {Cur.Describe()}", Cur);
        }
        return new TupleExpr(start.Pos, items);
    }

    private bool IsTupleEnd(string? extraEnd) =>
        Cur.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof || Cur.IsOp(")")
        || (extraEnd is not null && Cur.IsName(extraEnd));

    private Expr ParseExpression() => ParseConditional();

    private Expr ParseConditional()
    {
        Expr node = ParseOr();
        int wraps = 0;
        while (Cur.IsName("if"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            Expr condition = ParseOr();
            Expr? otherwise = null;
            if (Cur.IsName("else"))
            {
                Advance();
                otherwise = ParseConditional();
            }
            node = new ConditionalExpr(t.Pos, condition, node, otherwise);
        }
        Leave(wraps);
        return node;
    }

    private Expr ParseOr()
    {
        Expr node = ParseAnd();
        int wraps = 0;
        while (Cur.IsName("or"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            node = new OrExpr(t.Pos, node, ParseAnd());
        }
        Leave(wraps);
        return node;
    }

    private Expr ParseAnd()
    {
        Expr node = ParseNot();
        int wraps = 0;
        while (Cur.IsName("and"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            node = new AndExpr(t.Pos, node, ParseNot());
        }
        Leave(wraps);
        return node;
    }

    private Expr ParseNot()
    {
        if (!Cur.IsName("not")) return ParseCompare();
        Token t = Advance();
        Enter(t);
        var node = new NotExpr(t.Pos, ParseNot());
        Leave();
        return node;
    }

    private static readonly string[] CompareOperators = ["==", "!=", "<", "<=", ">", ">="];

    private Expr ParseCompare()
    {
        Token start = Cur;
        Expr first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Cur.Kind == TokenKind.Operator && Array.IndexOf(CompareOperators, Cur.Text) >= 0)
            {
                string op = Advance().Text;
                rest.Add((op, ParseMath1()));
            }
            else if (Cur.IsName("in"))
            {
                Advance();
                rest.Add(("in", ParseMath1()));
            }
            else if (Cur.IsName("not") && Peek().IsName("in"))
            {
                Advance();
                Advance();
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(start.Pos, first, rest);
    }

    private Expr ParseMath1()
    {
        Expr node = ParseConcat();
        int wraps = 0;
        while (Cur.IsOp("+") || Cur.IsOp("-"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            node = new BinaryExpr(t.Pos, t.Text, node, ParseConcat());
        }
        Leave(wraps);
        return node;
    }

    private Expr ParseConcat()
    {
        Token start = Cur;
        var parts = new List<Expr> { ParseMath2() };
        while (Cur.IsOp("~"))
        {
            Advance();
            parts.Add(ParseMath2());
        }
        return parts.Count == 1 ? parts[0] : new ConcatExpr(start.Pos, parts);
    }

    private Expr ParseMath2()
    {
        Expr node = ParsePow();
        int wraps = 0;
        while (Cur.IsOp("*") || Cur.IsOp("/") || Cur.IsOp("//") || Cur.IsOp("%"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            node = new BinaryExpr(t.Pos, t.Text, node, ParsePow());
        }
        Leave(wraps);
        return node;
    }

    private Expr ParsePow()
    {
        Expr node = ParseUnary(withFilter: true);
        int wraps = 0;
        while (Cur.IsOp("**"))
        {
            Token t = Advance();
            Enter(t);
            wraps++;
            node = new BinaryExpr(t.Pos, "**", node, ParseUnary(withFilter: true));
        }
        Leave(wraps);
        return node;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Token t = Cur;
        Enter(t);
        int wraps = 1;
        Expr node;
        if (t.IsOp("-") || t.IsOp("+"))
        {
            Advance();
            node = new UnaryExpr(t.Pos, t.Text, ParseUnary(withFilter: false));
        }
        else node = ParsePrimary();
        node = ParsePostfix(node, ref wraps);
        if (withFilter) node = ParseFilterChain(node, ref wraps);
        Leave(wraps);
        return node;
    }

    private Expr ParsePrimary()
    {
        Token t = Cur;
        switch (t.Kind)
        {
            case TokenKind.Name:
                Advance();
                switch (t.Text)
                {
                    case "true" or "True": return new LiteralExpr(t.Pos, true);
                    case "false" or "False": return new LiteralExpr(t.Pos, false);
                    case "none" or "None": return new LiteralExpr(t.Pos, null);
                }
                if (_macroNames.Count > 0) _macroNames.Peek().Add(t.Text);
                return new NameExpr(t.Pos, t.Text);
            case TokenKind.String:
                Advance();
                string text = t.Text;
                while (Cur.Kind == TokenKind.String) text += Advance().Text;
                return new LiteralExpr(t.Pos, text);
            case TokenKind.Integer:
            case TokenKind.Float:
                Advance();
                return new LiteralExpr(t.Pos, t.Value);
        }
        if (t.IsOp("("))
        {
            Advance();
            Expr inner = ParseTuple(explicitParens: true);
            ExpectOp(")");
            return inner;
        }
        if (t.IsOp("[")) return ParseList();
        if (t.IsOp("{")) return ParseDict();
        throw Error($"unexpected {t.Describe()}", t);
    }

    private ListExpr ParseList()
    {
        Token open = Advance();
        var items = new List<Expr>();
        while (!Cur.IsOp("]"))
        {
            if (items.Count > 0) ExpectOp(",");
            if (Cur.IsOp("]")) break;
            items.Add(ParseExpression());
        }
        Advance();
        return new ListExpr(open.Pos, items);
    }

    private DictExpr ParseDict()
    {
        Token open = Advance();
        var items = new List<(Expr, Expr)>();
        while (!Cur.IsOp("}"))
        {
            if (items.Count > 0) ExpectOp(",");
            if (Cur.IsOp("}")) break;
            Expr key = ParseExpression();
            ExpectOp(":");
            items.Add((key, ParseExpression()));
        }
        Advance();
        return new DictExpr(open.Pos, items);
    }

    private Expr ParsePostfix(Expr node, ref int wraps)
    {
        while (true)
        {
            Token t = Cur;
            if (t.IsOp("."))
            {
                Advance();
                Token name = Cur;
                if (name.Kind == TokenKind.Name) node = new AttributeExpr(t.Pos, node, Advance().Text);
                else if (name.Kind == TokenKind.Integer) node = new ItemExpr(t.Pos, node, new LiteralExpr(name.Pos, Advance().Value));
                else throw Error($"expected an attribute name after '.', got {name.Describe()}", name);
            }
            else if (t.IsOp("[")) node = ParseSubscript(node);
            else if (t.IsOp("(")) node = new CallExpr(t.Pos, node, ParseCallArguments());
            else break;
            Enter(t);
            wraps++;
        }
        return node;
    }

    private Expr ParseSubscript(Expr target)
    {
        Token open = Advance();
        Expr? start = null, stop = null, step = null;
        if (!Cur.IsOp(":")) start = ParseExpression();
        if (!Cur.IsOp(":"))
        {
            if (start is null) throw Error($"expected an index, got {Cur.Describe()}", Cur);
            ExpectOp("]");
            return new ItemExpr(open.Pos, target, start);
        }
        Advance();
        if (!Cur.IsOp("]") && !Cur.IsOp(":")) stop = ParseExpression();
        if (Cur.IsOp(":"))
        {
            Advance();
            if (!Cur.IsOp("]")) step = ParseExpression();
        }
        ExpectOp("]");
        return new SliceExpr(open.Pos, target, start, stop, step);
    }

    private Expr ParseFilterChain(Expr node, ref int wraps)
    {
        while (true)
        {
            Token t = Cur;
            if (t.IsOp("|"))
            {
                Advance();
                node = ParseFilter(node);
            }
            else if (t.IsName("is")) node = ParseTest(node);
            else if (t.IsOp("(")) node = new CallExpr(t.Pos, node, ParseCallArguments());
            else break;
            Enter(t);
            wraps++;
        }
        return node;
    }

    private FilterExpr ParseFilter(Expr target)
    {
        Token name = ExpectName();
        string full = name.Text;
        while (Cur.IsOp("."))
        {
            Advance();
            full += "." + ExpectName().Text;
        }
        var args = Cur.IsOp("(") ? ParseCallArguments() : CallArguments.None;
        return new FilterExpr(name.Pos, target, full, args);
    }

    private TestExpr ParseTest(Expr target)
    {
        Advance(); // is
        bool negated = false;
        if (Cur.IsName("not"))
        {
            Advance();
            negated = true;
        }
        Token name = ExpectName();
        string full = name.Text;
        while (Cur.IsOp("."))
        {
            Advance();
            full += "." + ExpectName().Text;
        }
        CallArguments args = CallArguments.None;
        if (Cur.IsOp("(")) args = ParseCallArguments();
        else if ((Cur.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || Cur.IsOp("[") || Cur.IsOp("{"))
                 && !Cur.IsName("else") && !Cur.IsName("or") && !Cur.IsName("and"))
        {
            if (Cur.IsName("is")) throw Error("you cannot chain multiple tests with 'is'", Cur);
            int wraps = 0;
            Expr arg = ParsePostfix(ParsePrimary(), ref wraps);
            Leave(wraps);
            args = new CallArguments([arg], [], null, null);
        }
        return new TestExpr(name.Pos, target, full, negated, args);
    }

    private CallArguments ParseCallArguments()
    {
        ExpectOp("(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        Expr? star = null, starStar = null;
        bool first = true;
        while (!Cur.IsOp(")"))
        {
            if (!first) ExpectOp(",");
            first = false;
            if (Cur.IsOp(")")) break;
            if (Cur.IsOp("*"))
            {
                Advance();
                star = ParseExpression();
            }
            else if (Cur.IsOp("**"))
            {
                Advance();
                starStar = ParseExpression();
            }
            else if (Cur.Kind == TokenKind.Name && Peek().IsOp("="))
            {
                string key = Advance().Text;
                Advance();
                named.Add((key, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error("positional argument follows keyword argument", Cur);
                positional.Add(ParseExpression());
            }
        }
        Advance();
        return new CallArguments(positional, named, star, starStar);
    }
}

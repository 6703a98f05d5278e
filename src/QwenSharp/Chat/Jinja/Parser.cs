using System.Runtime.CompilerServices;

namespace QwenSharp.Chat.Jinja;

/// <summary>Turns the token list into statements (this file) and expressions (Parser.Expressions.cs), following
/// Jinja2's grammar and operator precedence. Syntax errors carry the offending token's line and column.</summary>
internal sealed partial class Parser
{
    private readonly List<Token> _tokens;
    private readonly int _maxNesting;
    private int _i;
    private int _depth;
    private int _loopDepth;
    private readonly Stack<HashSet<string>> _macroNames = new();

    private Parser(List<Token> tokens, int maxNesting)
    {
        _tokens = tokens;
        _maxNesting = maxNesting;
    }

    public static IReadOnlyList<Stmt> Parse(string source, int maxNesting)
    {
        var parser = new Parser(Lexer.Tokenize(source), maxNesting);
        var body = parser.ParseBody([], out _);
        return body;
    }

    private Token Cur => _tokens[_i];
    private Token Peek(int ahead = 1) => _tokens[Math.Min(_i + ahead, _tokens.Count - 1)];

    private Token Advance()
    {
        Token t = _tokens[_i];
        if (_i < _tokens.Count - 1) _i++;
        return t;
    }

    private static TemplateError Error(string message, Token at) => new(message, at.Pos);

    private Token ExpectOp(string op)
    {
        if (!Cur.IsOp(op)) throw Error($"expected '{op}', got {Cur.Describe()}", Cur);
        return Advance();
    }

    private Token ExpectName()
    {
        if (Cur.Kind != TokenKind.Name) throw Error($"expected a name, got {Cur.Describe()}", Cur);
        return Advance();
    }

    private void ExpectNameValue(string name)
    {
        if (!Cur.IsName(name)) throw Error($"expected '{name}', got {Cur.Describe()}", Cur);
        Advance();
    }

    private void ExpectBlockEnd()
    {
        if (Cur.Kind != TokenKind.BlockEnd) throw Error($"expected end of statement '%}}', got {Cur.Describe()}", Cur);
        Advance();
    }

    /// <summary>Guards nesting depth: the limit, and the real stack as a backstop.</summary>
    private void Enter(Token at)
    {
        if (++_depth > _maxNesting || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw Error($"template is nested too deeply (limit {_maxNesting})", at);
    }

    private void Leave(int levels = 1) => _depth -= levels;

    /// <summary>Statements up to one of <paramref name="endTags"/> (whose name is consumed; the rest of that tag is
    /// left for the caller), or to the end of the template when no end tag is expected.</summary>
    private List<Stmt> ParseBody(string[] endTags, out string endTag)
    {
        var body = new List<Stmt>();
        while (true)
        {
            Token t = Cur;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    Advance();
                    body.Add(new TextStmt(t.Pos, t.Text));
                    break;
                case TokenKind.VariableBegin:
                    Advance();
                    if (Cur.Kind == TokenKind.VariableEnd) throw Error("expected an expression, got '}}'", Cur);
                    Expr value = ParseTuple();
                    if (Cur.Kind != TokenKind.VariableEnd) throw Error($"expected end of print statement '}}}}', got {Cur.Describe()}", Cur);
                    Advance();
                    body.Add(new OutputStmt(t.Pos, value));
                    break;
                case TokenKind.BlockBegin:
                    Token name = Peek();
                    if (name.Kind == TokenKind.Name && Array.IndexOf(endTags, name.Text) >= 0)
                    {
                        Advance();
                        Advance();
                        endTag = name.Text;
                        return body;
                    }
                    Advance();
                    body.Add(ParseStatement());
                    break;
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"unexpected end of template: expected {string.Join(" or ", endTags.Select(e => "'" + e + "'"))}", t);
                    endTag = "";
                    return body;
                default:
                    throw Error($"unexpected {t.Describe()}", t);
            }
        }
    }

    private Stmt ParseStatement()
    {
        Token tag = Cur;
        if (tag.Kind != TokenKind.Name) throw Error($"expected a statement name, got {tag.Describe()}", tag);
        Enter(tag);
        try
        {
            Advance();
            return tag.Text switch
            {
                "if" => ParseIf(tag),
                "for" => ParseFor(tag),
                "set" => ParseSet(tag),
                "macro" => ParseMacro(tag),
                "filter" => ParseFilterBlock(tag),
                "generation" => ParseGeneration(tag),
                "break" or "continue" => ParseLoopControl(tag),
                "endif" or "endfor" or "endset" or "endmacro" or "endfilter" or "endgeneration" or "elif" or "else"
                    => throw Error($"unexpected '{tag.Text}' (no open block it belongs to)", tag),
                "call" or "include" or "import" or "from" or "extends" or "block" or "with" or "do" or "autoescape"
                    => throw Error($"the '{tag.Text}' tag is not supported in chat templates", tag),
                _ => throw Error($"unknown tag '{tag.Text}'", tag),
            };
        }
        finally
        {
            Leave();
        }
    }

    private IfStmt ParseIf(Token tag)
    {
        var branches = new List<(Expr, IReadOnlyList<Stmt>)>();
        Expr condition = ParseTuple(withCondExpr: false);
        while (true)
        {
            ExpectBlockEnd();
            var body = ParseBody(["elif", "else", "endif"], out string end);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseTuple(withCondExpr: false);
                continue;
            }
            List<Stmt>? otherwise = null;
            if (end == "else")
            {
                ExpectBlockEnd();
                otherwise = ParseBody(["endif"], out _);
            }
            ExpectBlockEnd();
            return new IfStmt(tag.Pos, branches, otherwise);
        }
    }

    private ForStmt ParseFor(Token tag)
    {
        AssignTarget target = ParseAssignTarget(withNamespace: false);
        ExpectNameValue("in");
        Expr iterable = ParseTuple(withCondExpr: false, extraEnd: "recursive");
        Expr? filter = null;
        if (Cur.IsName("if"))
        {
            Advance();
            filter = ParseExpression();
        }
        if (Cur.IsName("recursive")) throw Error("recursive for loops are not supported", Cur);
        ExpectBlockEnd();
        _loopDepth++;
        var body = ParseBody(["endfor", "else"], out string end);
        _loopDepth--;
        List<Stmt>? otherwise = null;
        if (end == "else")
        {
            ExpectBlockEnd();
            otherwise = ParseBody(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStmt(tag.Pos, target, iterable, filter, body, otherwise);
    }

    private Stmt ParseSet(Token tag)
    {
        AssignTarget target = ParseAssignTarget(withNamespace: true);
        if (Cur.IsOp("="))
        {
            Advance();
            Expr value = ParseTuple();
            ExpectBlockEnd();
            return new SetStmt(tag.Pos, target, value);
        }
        var filters = new List<FilterExpr>();
        Expr placeholder = new LiteralExpr(Cur.Pos, "");
        while (Cur.IsOp("|"))
        {
            Advance();
            placeholder = ParseFilter(placeholder);
            filters.Add((FilterExpr)placeholder);
        }
        ExpectBlockEnd();
        var body = ParseBody(["endset"], out _);
        ExpectBlockEnd();
        return new SetBlockStmt(tag.Pos, target, body, filters);
    }

    private MacroStmt ParseMacro(Token tag)
    {
        string name = ExpectName().Text;
        var parameters = new List<(string, Expr?)>();
        ExpectOp("(");
        while (!Cur.IsOp(")"))
        {
            if (parameters.Count > 0) ExpectOp(",");
            if (Cur.IsOp(")")) break;
            Token p = ExpectName();
            Expr? def = null;
            if (Cur.IsOp("="))
            {
                Advance();
                def = ParseExpression();
            }
            else if (parameters.Count > 0 && parameters[^1].Item2 is not null)
                throw Error("non-default argument follows default argument", p);
            parameters.Add((p.Text, def));
        }
        Advance();
        ExpectBlockEnd();
        _macroNames.Push([]);
        int loops = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(["endmacro"], out _);
        _loopDepth = loops;
        var used = _macroNames.Pop();
        if (_macroNames.Count > 0) _macroNames.Peek().UnionWith(used);
        ExpectBlockEnd();
        return new MacroStmt(tag.Pos, name, parameters, body, used.Contains("varargs"), used.Contains("kwargs"));
    }

    private FilterBlockStmt ParseFilterBlock(Token tag)
    {
        var filters = new List<FilterExpr>();
        Expr current = ParseFilter(new LiteralExpr(Cur.Pos, ""));
        filters.Add((FilterExpr)current);
        while (Cur.IsOp("|"))
        {
            Advance();
            current = ParseFilter(current);
            filters.Add((FilterExpr)current);
        }
        ExpectBlockEnd();
        var body = ParseBody(["endfilter"], out _);
        ExpectBlockEnd();
        return new FilterBlockStmt(tag.Pos, filters, body);
    }

    private ScopeStmt ParseGeneration(Token tag)
    {
        ExpectBlockEnd();
        var body = ParseBody(["endgeneration"], out _);
        ExpectBlockEnd();
        return new ScopeStmt(tag.Pos, body);
    }

    private Stmt ParseLoopControl(Token tag)
    {
        if (_loopDepth == 0) throw Error($"'{tag.Text}' outside of a loop", tag);
        ExpectBlockEnd();
        return tag.Text == "break" ? new BreakStmt(tag.Pos) : new ContinueStmt(tag.Pos);
    }

    private AssignTarget ParseAssignTarget(bool withNamespace)
    {
        Token first = Cur;
        if (withNamespace && first.Kind == TokenKind.Name && Peek().IsOp("."))
        {
            Advance();
            Advance();
            Token attr = ExpectName();
            return new AttributeTarget(first.Pos, first.Text, attr.Text);
        }
        bool parens = Cur.IsOp("(");
        if (parens) Advance();
        var names = new List<AssignTarget>();
        while (true)
        {
            Token n = ExpectName();
            if (n.Text is "true" or "false" or "none" or "True" or "False" or "None")
                throw Error($"cannot assign to '{n.Text}'", n);
            names.Add(new NameTarget(n.Pos, n.Text));
            if (!Cur.IsOp(",")) break;
            Advance();
            if (Cur.Kind != TokenKind.Name || Cur.IsName("in")) break;
        }
        if (parens) ExpectOp(")");
        return names.Count == 1 && !parens ? names[0] : new TupleTarget(first.Pos, names);
    }
}

namespace QwenSharp.Chat.Jinja;

/// <summary>An expression of the template language; Pos is where errors about it are reported.</summary>
internal abstract record Expr(SourcePos Pos);

internal sealed record LiteralExpr(SourcePos Pos, object? Value) : Expr(Pos);
internal sealed record NameExpr(SourcePos Pos, string Name) : Expr(Pos);
internal sealed record ListExpr(SourcePos Pos, IReadOnlyList<Expr> Items) : Expr(Pos);
internal sealed record TupleExpr(SourcePos Pos, IReadOnlyList<Expr> Items) : Expr(Pos);
internal sealed record DictExpr(SourcePos Pos, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Pos);

/// <summary>"-" or "+" in front of a value.</summary>
internal sealed record UnaryExpr(SourcePos Pos, string Op, Expr Operand) : Expr(Pos);
internal sealed record NotExpr(SourcePos Pos, Expr Operand) : Expr(Pos);

/// <summary>Arithmetic: + - * / // % **.</summary>
internal sealed record BinaryExpr(SourcePos Pos, string Op, Expr Left, Expr Right) : Expr(Pos);
internal sealed record AndExpr(SourcePos Pos, Expr Left, Expr Right) : Expr(Pos);
internal sealed record OrExpr(SourcePos Pos, Expr Left, Expr Right) : Expr(Pos);

/// <summary>A chain such as a &lt; b &lt;= c; the operators are ==, !=, &lt;, &lt;=, &gt;, &gt;=, in, notin.</summary>
internal sealed record CompareExpr(SourcePos Pos, Expr First, IReadOnlyList<(string Op, Expr Right)> Rest) : Expr(Pos);

/// <summary>a ~ b ~ c: the string forms joined.</summary>
internal sealed record ConcatExpr(SourcePos Pos, IReadOnlyList<Expr> Parts) : Expr(Pos);

/// <summary>then if cond else otherwise (otherwise may be absent: undefined).</summary>
internal sealed record ConditionalExpr(SourcePos Pos, Expr Condition, Expr Then, Expr? Otherwise) : Expr(Pos);

internal sealed record AttributeExpr(SourcePos Pos, Expr Target, string Name) : Expr(Pos);
internal sealed record ItemExpr(SourcePos Pos, Expr Target, Expr Key) : Expr(Pos);
internal sealed record SliceExpr(SourcePos Pos, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Pos);

/// <summary>The arguments of a call, filter or test.</summary>
internal sealed record CallArguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Named, Expr? StarArgs, Expr? StarKwargs)
{
    public static CallArguments None { get; } = new([], [], null, null);
}

internal sealed record CallExpr(SourcePos Pos, Expr Callee, CallArguments Args) : Expr(Pos);
internal sealed record FilterExpr(SourcePos Pos, Expr Target, string Name, CallArguments Args) : Expr(Pos);
internal sealed record TestExpr(SourcePos Pos, Expr Target, string Name, bool Negated, CallArguments Args) : Expr(Pos);

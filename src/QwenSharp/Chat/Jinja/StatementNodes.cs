namespace QwenSharp.Chat.Jinja;

/// <summary>A statement of the template: text, an output, or a block tag with its body.</summary>
internal abstract record Stmt(SourcePos Pos);

internal sealed record TextStmt(SourcePos Pos, string Text) : Stmt(Pos);
internal sealed record OutputStmt(SourcePos Pos, Expr Value) : Stmt(Pos);
internal sealed record IfStmt(SourcePos Pos, IReadOnlyList<(Expr Condition, IReadOnlyList<Stmt> Body)> Branches, IReadOnlyList<Stmt>? Else) : Stmt(Pos);

internal sealed record ForStmt(SourcePos Pos, AssignTarget Target, Expr Iterable, Expr? Filter, IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt>? Else) : Stmt(Pos);
internal sealed record SetStmt(SourcePos Pos, AssignTarget Target, Expr Value) : Stmt(Pos);

/// <summary>{% set x %}...{% endset %}: the body's output, optionally through filters, bound to a name.</summary>
internal sealed record SetBlockStmt(SourcePos Pos, AssignTarget Target, IReadOnlyList<Stmt> Body, IReadOnlyList<FilterExpr> Filters) : Stmt(Pos);

internal sealed record MacroStmt(SourcePos Pos, string Name, IReadOnlyList<(string Name, Expr? Default)> Parameters, IReadOnlyList<Stmt> Body,
    bool UsesVarargs, bool UsesKwargs) : Stmt(Pos);

/// <summary>{% filter f %}...{% endfilter %}: the body's output through filter(s); the filter chain's innermost
/// target is a placeholder literal the interpreter replaces with the body text.</summary>
internal sealed record FilterBlockStmt(SourcePos Pos, IReadOnlyList<FilterExpr> Filters, IReadOnlyList<Stmt> Body) : Stmt(Pos);

/// <summary>A body with no effect of its own: HuggingFace's {% generation %} marker.</summary>
internal sealed record ScopeStmt(SourcePos Pos, IReadOnlyList<Stmt> Body) : Stmt(Pos);
internal sealed record BreakStmt(SourcePos Pos) : Stmt(Pos);
internal sealed record ContinueStmt(SourcePos Pos) : Stmt(Pos);

/// <summary>What a set or for assigns to: a name, names to unpack a tuple into, or a namespace attribute.</summary>
internal abstract record AssignTarget(SourcePos Pos);
internal sealed record NameTarget(SourcePos Pos, string Name) : AssignTarget(Pos);
internal sealed record TupleTarget(SourcePos Pos, IReadOnlyList<AssignTarget> Items) : AssignTarget(Pos);
internal sealed record AttributeTarget(SourcePos Pos, string Object, string Attribute) : AssignTarget(Pos);

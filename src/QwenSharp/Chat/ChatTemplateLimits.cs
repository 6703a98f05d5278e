namespace QwenSharp.Chat;

/// <summary>Bounds on one rendering, so that no template (a model file is untrusted input) can loop forever,
/// recurse without end or build unbounded text. Reaching one is a <see cref="ChatTemplateException"/>.</summary>
public sealed record ChatTemplateLimits
{
    public static ChatTemplateLimits Default { get; } = new();

    /// <summary>Longest rendered text, and longest string or list any expression may build, in characters/items.</summary>
    public int MaxOutputLength { get; init; } = 1 << 20;

    /// <summary>Evaluation steps (each statement, expression node and loop iteration is one) per rendering.</summary>
    public long MaxSteps { get; init; } = 5_000_000;

    /// <summary>Nested macro calls.</summary>
    public int MaxCallDepth { get; init; } = 100;

    /// <summary>Nesting of blocks and expressions in the source (bounds the parser's and evaluator's recursion).</summary>
    public int MaxNesting { get; init; } = 100;

    /// <summary>Most items range() may make (Jinja's sandbox allows 100,000).</summary>
    public int MaxRange { get; init; } = 100_000;
}

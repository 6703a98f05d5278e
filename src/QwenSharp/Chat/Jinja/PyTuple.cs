namespace QwenSharp.Chat.Jinja;

/// <summary>A Python tuple: an immutable sequence, written "(a, b)" and "(a,)". Lists are List&lt;object?&gt;.</summary>
internal sealed class PyTuple(IReadOnlyList<object?> items)
{
    public IReadOnlyList<object?> Items { get; } = items;
}

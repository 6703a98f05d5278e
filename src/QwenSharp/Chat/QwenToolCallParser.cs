namespace QwenSharp.Chat;

/// <summary>Qwen/Hermes-style tool calls (<c>&lt;tool_call&gt;{"name", "arguments"}&lt;/tool_call&gt;</c>, what
/// Qwen's tool templates ask the model to write) through <see cref="ToolCallParser"/>.</summary>
public sealed class QwenToolCallParser : IToolCallParser
{
    public static QwenToolCallParser Instance { get; } = new();

    public bool TryParse(string reply, out IReadOnlyList<ToolCall> calls, out string remainingText)
    {
        ParsedReply parsed = ToolCallParser.Parse(reply);
        calls = parsed.ToolCalls;
        remainingText = parsed.Content;
        return calls.Count > 0;
    }

    /// <summary>Text up to an opened <c>&lt;tool_call&gt;</c> block, and short of a tail that could still grow into
    /// one ("&lt;tool_"), so a stream never shows the raw call markup.</summary>
    public int StreamableLength(string partialReply)
    {
        ArgumentNullException.ThrowIfNull(partialReply);
        int open = partialReply.IndexOf(ToolCallParser.OpenTag, StringComparison.Ordinal);
        if (open >= 0) return open;
        string tag = ToolCallParser.OpenTag;
        for (int keep = Math.Min(tag.Length - 1, partialReply.Length); keep > 0; keep--)
            if (partialReply.AsSpan(partialReply.Length - keep).SequenceEqual(tag.AsSpan(0, keep)))
                return partialReply.Length - keep;
        return partialReply.Length;
    }
}

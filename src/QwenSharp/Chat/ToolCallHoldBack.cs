namespace QwenSharp.Chat;

/// <summary>Streams a reply's text while holding back what may be a tool call (as the parser decides), so that
/// clients see either text or calls, never the call markup.</summary>
public sealed class ToolCallHoldBack(IToolCallParser parser)
{
    private readonly System.Text.StringBuilder _pending = new(); // generated text not sent yet

    /// <summary>Adds generated text; returns the part that may be sent now.</summary>
    public string Add(string piece)
    {
        _pending.Append(piece);
        string pending = _pending.ToString();
        int ready = Math.Clamp(parser.StreamableLength(pending), 0, pending.Length);
        _pending.Remove(0, ready);
        return pending[..ready];
    }

    /// <summary>At the end: the held-back text still to send, and the calls found in it (sent text held none).</summary>
    public (string Text, IReadOnlyList<ToolCall> Calls) Finish()
    {
        string held = _pending.ToString();
        if (parser.TryParse(held, out var calls, out string rest)) return (rest, calls);
        return (held, []);
    }
}

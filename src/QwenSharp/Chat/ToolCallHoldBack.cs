namespace QwenSharp.Chat;

/// <summary>Streams a reply's text while holding back what may be a tool call (as the parser decides), so that
/// clients see either text or calls, never the call markup.</summary>
public sealed class ToolCallHoldBack(IToolCallParser parser)
{
    private readonly System.Text.StringBuilder _text = new();
    private int _sent;

    /// <summary>Adds generated text; returns the part that may be sent now.</summary>
    public string Add(string piece)
    {
        _text.Append(piece);
        string all = _text.ToString();
        int upTo = Math.Max(_sent, Math.Min(all.Length, parser.StreamableLength(all)));
        string ready = all[_sent..upTo];
        _sent = upTo;
        return ready;
    }

    /// <summary>At the end: the held-back text still to send, and the calls found in the whole reply.</summary>
    public (string Text, IReadOnlyList<ToolCall> Calls) Finish()
    {
        string held = _text.ToString()[_sent..];
        if (parser.TryParse(held, out var calls, out string rest)) return (rest, calls);
        return (held, []);
    }
}

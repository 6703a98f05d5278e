using System.Text;

namespace QwenSharp.Generation;

/// <summary>
/// Watches streamed text for stop strings. Text that could still turn out to be the start of a stop string is
/// held back, so a caller printing whatever <see cref="Push"/> returns never shows part of a stop string.
/// Once a stop string completes, the text before it is emitted and everything after it is discarded.
/// </summary>
public sealed class StopDetector
{
    private readonly string[] _stops;
    private readonly int _longestStop;
    private readonly StringBuilder _held = new();
    private bool _stopped;

    /// <param name="stopStrings">Strings that end generation; empty strings are ignored.</param>
    public StopDetector(IReadOnlyList<string> stopStrings)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        _stops = stopStrings.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal).ToArray();
        _longestStop = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>True once a stop string has been seen.</summary>
    public bool Stopped => _stopped;

    /// <summary>Adds the next piece of text. Returns the text that is now safe to show, and whether a stop string
    /// completed (then the returned text ends just before it, and later pushes return nothing).</summary>
    public (string emit, bool stopped) Push(string textPiece)
    {
        ArgumentNullException.ThrowIfNull(textPiece);
        if (_stopped) return ("", true);
        if (_stops.Length == 0) return (textPiece, false);

        // Only the held tail and the new piece can contain a stop string: everything before the tail was checked
        // and released because no stop string could start there.
        _held.Append(textPiece);
        string text = _held.ToString();

        int first = -1;
        foreach (string stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            _stopped = true;
            _held.Clear();
            return (text[..first], true);
        }

        int keep = PossibleStopStart(text);
        _held.Clear().Append(text, text.Length - keep, keep);
        return (text[..^keep], false);
    }

    /// <summary>At the end of generation: the held-back tail (it never completed a stop string), or "" after a stop.</summary>
    public string Flush()
    {
        string rest = _held.ToString();
        _held.Clear();
        return _stopped ? "" : rest;
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that is a proper prefix of some stop string.</summary>
    private int PossibleStopStart(string text)
    {
        for (int len = Math.Min(text.Length, _longestStop - 1); len > 0; len--)
        {
            ReadOnlySpan<char> tail = text.AsSpan(text.Length - len);
            foreach (string stop in _stops)
                if (stop.Length > len && stop.AsSpan().StartsWith(tail, StringComparison.Ordinal)) return len;
        }
        return 0;
    }
}

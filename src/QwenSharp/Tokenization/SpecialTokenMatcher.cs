using System.Buffers;

namespace QwenSharp.Tokenization;

/// <summary>Finds added tokens (&lt;|im_start|&gt;, &lt;think&gt;, ...) in raw text, leftmost first and longest at that
/// position, the rule of HF tokenizers' added-vocabulary split. Control tokens are found only when special-token
/// parsing is on; user-defined tokens always are (as in HF tokenizers and llama.cpp).</summary>
internal sealed class SpecialTokenMatcher
{
    private readonly record struct Entry(string Text, int Id, bool IsControl);

    private readonly Dictionary<char, Entry[]> byFirstChar;
    private readonly SearchValues<char> allFirstChars;
    private readonly SearchValues<char> userDefinedFirstChars;
    private readonly bool hasUserDefined;

    public SpecialTokenMatcher(IEnumerable<(string Text, int Id, bool IsControl)> tokens)
    {
        var entries = tokens.Where(t => t.Text.Length > 0).Select(t => new Entry(t.Text, t.Id, t.IsControl)).ToList();
        byFirstChar = entries.GroupBy(e => e.Text[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(e => e.Text.Length).ToArray());
        allFirstChars = SearchValues.Create(byFirstChar.Keys.ToArray());
        userDefinedFirstChars = SearchValues.Create(entries.Where(e => !e.IsControl).Select(e => e.Text[0]).Distinct().ToArray());
        hasUserDefined = entries.Any(e => !e.IsControl);
        Count = entries.Count;
    }

    public int Count { get; }

    /// <summary>The first added token at or after start: its index, length and id. False when there is none.</summary>
    public bool TryFindNext(ReadOnlySpan<char> text, int start, bool includeControl, out int index, out int length, out int id)
    {
        index = length = id = 0;
        if (Count == 0 || (!includeControl && !hasUserDefined)) return false;
        var firstChars = includeControl ? allFirstChars : userDefinedFirstChars;
        int from = start;
        while (from < text.Length)
        {
            int offset = text[from..].IndexOfAny(firstChars);
            if (offset < 0) return false;
            int at = from + offset;
            var rest = text[at..];
            foreach (var entry in byFirstChar[text[at]])
            {
                if ((includeControl || !entry.IsControl) && rest.StartsWith(entry.Text, StringComparison.Ordinal))
                {
                    index = at;
                    length = entry.Text.Length;
                    id = entry.Id;
                    return true;
                }
            }
            from = at + 1;
        }
        return false;
    }
}

using System.Text;
using QwenSharp.Models;

namespace QwenSharp.Tests.Tokenization;

/// <summary>A SentencePiece-style vocabulary (CodeQwen1.5's kind) built from the parity corpus: &lt;unk&gt;, &lt;s&gt;,
/// &lt;/s&gt;, the 256 byte-fallback tokens &lt;0xNN&gt;, ChatML and FIM control tokens, single characters (only every
/// other CJK character and no emoji, so byte fallback is exercised), and the prefixes of frequent "▁word"s, which
/// makes every piece reachable by pairwise merges. Scores come from a hash in eight levels, so equal scores (the
/// leftmost-pair tie rule) are common.</summary>
internal static class SentencePieceTestVocabulary
{
    public static readonly string[] Controls = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"];

    public static SyntheticVocabulary Build(string corpus)
    {
        var tokens = new List<string>();
        var types = new List<int>();
        var scores = new List<float>();
        var known = new HashSet<string>(StringComparer.Ordinal);
        void Add(string text, int type, float score)
        {
            if (!known.Add(text)) return;
            tokens.Add(text);
            types.Add(type);
            scores.Add(score);
        }
        Add("<unk>", 2, 0);
        Add("<s>", 3, 0);
        Add("</s>", 3, 0);
        for (int b = 0; b < 256; b++) Add($"<0x{b:X2}>", 6, 0);
        foreach (string c in Controls) Add(c, 3, 0);

        var charCounts = new Dictionary<char, int>();
        foreach (char c in corpus) charCounts[c] = charCounts.GetValueOrDefault(c) + 1;
        bool InVocabulary(char c) => c == '\u2581' || (!char.IsSurrogate(c) && !char.IsWhiteSpace(c) && !char.IsControl(c)
                                                       && (c < 0x3000 || c % 2 == 0)); // half the CJK range falls back to bytes
        Add("\u2581", 1, Score("\u2581"));
        foreach (var (c, _) in charCounts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key))
            if (InVocabulary(c)) Add(c.ToString(), 1, Score(c.ToString()));

        // "▁word" prefixes for the most frequent words, CJK runs included (split on spaces only, as SentencePiece sees them).
        var words = corpus.Replace('\n', ' ').Replace('\r', ' ').Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(w => w.All(InVocabulary))
            .GroupBy(w => w).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Take(400).Select(g => g.Key);
        foreach (string word in words)
        {
            string piece = "\u2581" + word;
            for (int n = 2; n <= Math.Min(piece.Length, 12); n++) Add(piece[..n], 1, Score(piece[..n]));
        }
        // Some word-internal pieces too (suffixes), so merges also happen away from word starts.
        foreach (string word in words.Take(150))
            for (int n = 2; n <= Math.Min(word.Length, 6); n++) Add(word[^n..], 1, Score(word[^n..]));

        int bos = tokens.IndexOf("<s>"), eos = tokens.IndexOf("</s>");
        return new SyntheticVocabulary([.. tokens], [.. types], [], bos, eos, eos) { Scores = [.. scores], AddSpacePrefix = true };
    }

    /// <summary>A stable pseudo-random score in {-1, -2, ..., -8} (not string.GetHashCode, which varies per process).</summary>
    private static float Score(string piece)
    {
        uint h = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(piece)) h = (h ^ b) * 16777619;
        return -1f - h % 8;
    }
}

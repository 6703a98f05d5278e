using System.Text;
using System.Text.Json;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>The heap-based merger against the textbook definition of BPE (merge the lowest-ranked adjacent pair,
/// leftmost first, until none is left), written here from the raw tokenizer.json, slowly and plainly.</summary>
[Collection(TokenizerCollection.Name)]
public sealed class BpeMergeTests(TokenizerFixture fx)
{
    private sealed class NaiveBpe
    {
        private readonly Dictionary<string, int> vocab = new();
        private readonly Dictionary<(string, string), int> ranks = new();

        public NaiveBpe(string tokenizerJson)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(tokenizerJson));
            var model = doc.RootElement.GetProperty("model");
            foreach (var entry in model.GetProperty("vocab").EnumerateObject()) vocab[entry.Name] = entry.Value.GetInt32();
            int rank = 0;
            foreach (var merge in model.GetProperty("merges").EnumerateArray())
                ranks[(merge[0].GetString()!, merge[1].GetString()!)] = rank++;
        }

        /// <summary>BPE over the GPT-2 byte-level spelling of bytes.</summary>
        public int[] Encode(byte[] bytes)
        {
            var symbols = bytes.Select(b => SpellByte(b).ToString()).ToList();
            while (true)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (ranks.TryGetValue((symbols[i], symbols[i + 1]), out int r) && r < bestRank) (best, bestRank) = (i, r);
                if (best < 0) break;
                symbols[best] += symbols[best + 1];
                symbols.RemoveAt(best + 1);
            }
            return symbols.Select(s => vocab[s]).ToArray();
        }

        private static char SpellByte(byte b)
        {
            int next = 0x100;
            for (int x = 0; x < 256; x++)
            {
                bool printable = x is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
                if (x == b) return printable ? (char)x : (char)next;
                if (!printable) next++;
            }
            throw new InvalidOperationException();
        }
    }

    private static NaiveBpe? naive;

    private static NaiveBpe Naive => naive ??= new NaiveBpe(TestPaths.SharedTokenizerJson);

    [Fact]
    public void SinglePieceWordsMergeAsTextbookBpeSays()
    {
        // Letter runs (optionally after one space) are single pre-tokenizer pieces, so Encode is BPE of their bytes.
        string[] letters = ["a", "e", "i", "n", "s", "t", "r", "l", "o", "h", "k", "é", "ö", "中", "文", "한", "ไ", "я", "ß"];
        var random = new Random(7);
        for (int n = 0; n < 1500; n++)
        {
            var word = new StringBuilder(n % 2 == 0 ? " " : "");
            int length = random.Next(1, 30);
            for (int i = 0; i < length; i++) word.Append(letters[random.Next(letters.Length)]);
            string text = word.ToString();
            Assert.Equal(Naive.Encode(Encoding.UTF8.GetBytes(text)), fx.Ours.Encode(text));
        }
    }

    [Fact]
    public void CorpusPiecesMergeAsTextbookBpeSays()
    {
        foreach (string piece in fx.CorpusLines.Where(l => !l.Contains("<|") && !l.Contains("<t"))
                     .SelectMany(Qwen2PreTokenizerTests.Pieces).Distinct().Take(3000))
        {
            // Text the oracle leaves unchanged by NFC, so the piece's own bytes are what gets merged.
            if (!QwenSharp.Tokenization.Unicode.NfcNormalizer.IsQuickCheckYes(piece)) continue;
            Assert.Equal(Naive.Encode(Encoding.UTF8.GetBytes(piece)), fx.Ours.Encode(piece));
        }
    }

    [Fact]
    public void RepeatedPairsMergeLeftmostFirst()
    {
        // A toy vocabulary where "aaaaa" shows the order: a+a merges leftmost first, then aa+aa.
        var tokens = Enumerable.Range(0, 256).Select(b => SpellByteForToy((byte)b)).Concat(["aa", "aaaa", "ab"]).ToList();
        var tok = QwenTokenizer.FromVocabulary(tokens, null, ["a a", "aa aa", "a b"]);
        int a = tokens.IndexOf("a"), aa = tokens.IndexOf("aa"), aaaa = tokens.IndexOf("aaaa"), ab = tokens.IndexOf("ab");
        Assert.Equal([aaaa, a], tok.Encode("aaaaa"));
        Assert.Equal([aa, a], tok.Encode("aaa"));
        Assert.Equal([aa, ab], tok.Encode("aaab"));      // a+a (rank 0) beats a+b (rank 2), leftmost first
        Assert.Equal([aaaa, aaaa, aa], tok.Encode(new string('a', 10)));
    }

    internal static string SpellByteForToy(byte b)
    {
        int next = 0x100;
        for (int x = 0; x < 256; x++)
        {
            bool printable = x is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            if (x == b) return (printable ? (char)x : (char)next).ToString();
            if (!printable) next++;
        }
        throw new InvalidOperationException();
    }
}

using System.Buffers;
using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// SentencePiece-style BPE by scores with byte fallback (CodeQwen1.5's vocabulary; GGUF tokenizer.ggml.model =
/// "llama"), producing the ids llama.cpp's SPM tokenizer produces. A text fragment (the text between added tokens) is
/// prefixed with a space when add_space_prefix is set, every ' ' becomes U+2581 ("▁"), and the fragment starts as one
/// symbol per code point. Repeatedly, the adjacent pair whose concatenation is a vocabulary token with the highest
/// score is merged (ties: the leftmost pair). A final symbol that is not a token is emitted as its UTF-8 bytes, each
/// as its &lt;0xNN&gt; byte token. No normalisation and no pre-tokenizer split.
/// </summary>
internal sealed class SentencePieceBpe
{
    public const char SpaceMark = '\u2581';

    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> idsByText;
    private readonly float[] scores;
    private readonly int[] byteTokens;   // [256] id of <0xNN>, or -1
    private readonly int vocabSize;

    public bool AddSpacePrefix { get; }

    public SentencePieceBpe(Dictionary<string, int> idsByText, float[] scores, bool addSpacePrefix)
    {
        this.idsByText = idsByText.GetAlternateLookup<ReadOnlySpan<char>>();
        this.scores = scores;
        vocabSize = scores.Length;
        AddSpacePrefix = addSpacePrefix;
        byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            // llama.cpp looks the byte token up as "<0xNN>", falling back to the byte as a one-character token.
            if (idsByText.TryGetValue($"<0x{b:X2}>", out int id) || (b < 0x80 && idsByText.TryGetValue(((char)b).ToString(), out id)))
                byteTokens[b] = id;
            else byteTokens[b] = -1;
        }
    }

    /// <summary>The text of a byte token "&lt;0xNN&gt;", or -1 when the spelling is not one.</summary>
    public static int ParseByteToken(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
        && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b) ? b : -1;

    /// <summary>Appends the ids of one raw-text fragment.</summary>
    public void Encode(ReadOnlySpan<char> fragment, GrowableBuffer<int> output)
    {
        if (fragment.IsEmpty) return;
        int length = fragment.Length + (AddSpacePrefix ? 1 : 0);
        char[] text = ArrayPool<char>.Shared.Rent(length);
        int[] start = ArrayPool<int>.Shared.Rent(length), size = ArrayPool<int>.Shared.Rent(length);
        int[] prev = ArrayPool<int>.Shared.Rent(length), next = ArrayPool<int>.Shared.Rent(length);
        try
        {
            int at = 0;
            if (AddSpacePrefix) text[at++] = SpaceMark;
            foreach (char c in fragment) text[at++] = c == ' ' ? SpaceMark : c;

            // One symbol per code point (a surrogate pair stays together).
            int count = 0;
            for (int i = 0; i < length;)
            {
                int n = char.IsHighSurrogate(text[i]) && i + 1 < length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
                start[count] = i;
                size[count] = n;
                prev[count] = count - 1;
                next[count] = i + n < length ? count + 1 : -1;
                count++;
                i += n;
            }

            var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(BigramOrder.Instance);
            for (int i = 1; i < count; i++) TryAdd(i - 1, i);
            while (queue.TryDequeue(out var bigram, out _))
            {
                int l = bigram.Left, r = bigram.Right;
                if (size[l] == 0 || size[r] == 0 || size[l] + size[r] != bigram.Size) continue; // outdated by an earlier merge
                size[l] += size[r];
                size[r] = 0;
                next[l] = next[r];
                if (next[r] >= 0) prev[next[r]] = l;
                TryAdd(prev[l], l);
                TryAdd(l, next[l]);
            }

            for (int i = 0; i >= 0 && count > 0; i = next[i])
            {
                var piece = text.AsSpan(start[i], size[i]);
                if (idsByText.TryGetValue(piece, out int id) && id < vocabSize) output.Add(id);
                else EmitBytes(piece, output);
            }

            void TryAdd(int left, int right)
            {
                if (left < 0 || right < 0) return;
                int n = size[left] + size[right];
                if (!idsByText.TryGetValue(text.AsSpan(start[left], n), out int id) || id >= vocabSize) return;
                queue.Enqueue((left, right, n), (scores[id], left));
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(text);
            foreach (var a in new[] { start, size, prev, next }) ArrayPool<int>.Shared.Return(a);
        }
    }

    private void EmitBytes(ReadOnlySpan<char> piece, GrowableBuffer<int> output)
    {
        Span<byte> utf8 = stackalloc byte[16];
        int n = Encoding.UTF8.GetBytes(piece, utf8); // a symbol is one code point: at most 4 bytes (3 for U+FFFD)
        for (int i = 0; i < n; i++)
        {
            int id = byteTokens[utf8[i]];
            if (id < 0) throw new QwenSharpException($"The vocabulary has no byte token <0x{utf8[i]:X2}> to spell '{piece}' with.");
            output.Add(id);
        }
    }

    /// <summary>Highest score first; equal scores: the leftmost pair first.</summary>
    private sealed class BigramOrder : IComparer<(float Score, int Left)>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare((float Score, int Left) a, (float Score, int Left) b) =>
            a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }
}

using System.Buffers;
using System.Text;
using QwenSharp.Tokenization.Unicode;

namespace QwenSharp.Tokenization;

/// <summary>
/// The Qwen2 byte-level BPE tokenizer (Qwen1.5, Qwen2, Qwen2.5 vocabularies), giving the same ids as HuggingFace
/// tokenizers. Encoding: split out added tokens, NFC-normalise each stretch between them, cut it into pieces with the
/// Qwen2 split rules, and merge each piece's UTF-8 bytes by BPE rank. Thread-safe: every thread gets its own scratch
/// buffers and word cache.
/// </summary>
public sealed partial class QwenTokenizer
{
    private readonly string[] tokenTexts;
    private readonly byte[] tokenTypes;
    private readonly byte[] bytesArena;
    private readonly int[] bytesOffsets;   // token i's bytes are bytesArena[bytesOffsets[i]..bytesOffsets[i + 1]]
    private readonly Dictionary<string, int> idsByText;
    private readonly int[] byteToId;       // the single-byte tokens every BPE word starts from
    private readonly BpeMergeTable merges;
    private readonly SpecialTokenMatcher addedTokens;
    private readonly bool normalizeNfc;
    private readonly ThreadLocal<EncodeScratch> scratch = new(() => new EncodeScratch());

    private QwenTokenizer(IReadOnlyList<string> tokens, byte[] types, IReadOnlyList<(string Left, string Right)> mergePairs, bool normalizeNfc)
    {
        int count = tokens.Count;
        if (count == 0) throw new QwenSharpException("The tokenizer vocabulary is empty.");
        if (count > BpeMergeTable.MaxTokenId + 1)
            throw new QwenSharpException($"The vocabulary has {count} tokens; at most {BpeMergeTable.MaxTokenId + 1} are supported.");
        tokenTexts = new string[count];
        tokenTypes = types;
        idsByText = new Dictionary<string, int>(count, StringComparer.Ordinal);
        this.normalizeNfc = normalizeNfc;

        var allBytes = new List<byte[]>(count);
        int totalBytes = 0;
        for (int id = 0; id < count; id++)
        {
            string text = tokens[id] ?? throw new QwenSharpException($"Token {id} of the vocabulary is null.");
            tokenTexts[id] = text;
            // A repeated spelling maps to its last id, as in HF tokenizers and llama.cpp; holes (empty) map to nothing.
            if (text.Length > 0) idsByText[text] = id;
            // Added tokens are plain text; vocabulary tokens are in the byte-level alphabet. A token with characters
            // outside that alphabet stands for its own UTF-8 text, as HF's byte-level decoder treats it.
            byte[] bytes = (TokenType.IsAdded(types[id]) ? null : ByteLevelAlphabet.TryDecode(text)) ?? Encoding.UTF8.GetBytes(text);
            allBytes.Add(bytes);
            totalBytes += bytes.Length;
        }
        MaxTokenByteLength = allBytes.Max(b => b.Length);
        bytesArena = new byte[totalBytes];
        bytesOffsets = new int[count + 1];
        for (int id = 0, at = 0; id < count; id++)
        {
            allBytes[id].CopyTo(bytesArena, at);
            at += allBytes[id].Length;
            bytesOffsets[id + 1] = at;
        }

        byteToId = new int[256];
        for (int b = 0; b < 256; b++)
        {
            if (!idsByText.TryGetValue(ByteLevelAlphabet.CharOf((byte)b).ToString(), out byteToId[b]))
                throw new QwenSharpException($"The vocabulary has no token for byte 0x{b:X2} ('{ByteLevelAlphabet.CharOf((byte)b)}'): not a byte-level BPE vocabulary.");
        }

        var resolved = new (int, int, int)[mergePairs.Count];
        for (int rank = 0; rank < mergePairs.Count; rank++)
        {
            var (left, right) = mergePairs[rank];
            if (!idsByText.TryGetValue(left, out int leftId) || !idsByText.TryGetValue(right, out int rightId))
                throw new QwenSharpException($"Merge {rank} ('{left} {right}') names a token that is not in the vocabulary.");
            if (!idsByText.TryGetValue(left + right, out int mergedId))
                throw new QwenSharpException($"Merge {rank} ('{left} {right}') makes '{left + right}', which is not in the vocabulary.");
            resolved[rank] = (leftId, rightId, mergedId);
        }
        merges = new BpeMergeTable(resolved);

        addedTokens = new SpecialTokenMatcher(Enumerable.Range(0, count)
            .Where(id => TokenType.IsAdded(types[id]))
            .Select(id => (tokenTexts[id], id, types[id] == TokenType.Control)));
    }

    /// <summary>A tokenizer from vocabulary lists as GGUF stores them.</summary>
    /// <param name="tokens">Token strings by id, in the byte-level alphabet ("Ġhello"); added tokens as their text.</param>
    /// <param name="tokenTypes">GGUF token types by id (1 normal, 3 control, 4 user-defined, 5 unused, 6 byte), or null
    /// for all normal. Control tokens are parsed in text when asked; user-defined ones always.</param>
    /// <param name="merges">Merges in rank order, each "left right" with one space.</param>
    /// <param name="specialTokenIds">More ids to treat as control tokens.</param>
    public static QwenTokenizer FromVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<int>? tokenTypes,
        IReadOnlyList<string> merges, IEnumerable<int>? specialTokenIds = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(merges);
        var types = new byte[tokens.Count];
        if (tokenTypes is null) types.AsSpan().Fill(TokenType.Normal);
        else
        {
            if (tokenTypes.Count != tokens.Count)
                throw new QwenSharpException($"The vocabulary has {tokens.Count} tokens but {tokenTypes.Count} token types.");
            for (int id = 0; id < types.Length; id++)
            {
                int type = tokenTypes[id];
                if (type is < TokenType.Undefined or > TokenType.Byte)
                    throw new QwenSharpException($"Token {id} has type {type}, which is not a GGUF token type (0..6).");
                types[id] = (byte)type;
            }
        }
        if (specialTokenIds is not null)
        {
            foreach (int id in specialTokenIds)
            {
                if ((uint)id >= (uint)types.Length)
                    throw new QwenSharpException($"Special token id {id} is outside the vocabulary of {types.Length} tokens.");
                types[id] = TokenType.Control;
            }
        }
        var pairs = new (string, string)[merges.Count];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string merge = merges[rank] ?? throw new QwenSharpException($"Merge {rank} is null.");
            int space = merge.IndexOf(' ');
            if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
                throw new QwenSharpException($"Merge {rank} ('{merge}') is not two tokens separated by one space.");
            pairs[rank] = (merge[..space], merge[(space + 1)..]);
        }
        return new QwenTokenizer(tokens, types, pairs, normalizeNfc: true);
    }

    /// <summary>A tokenizer from a HuggingFace tokenizer.json of the Qwen2 kind (BPE model, NFC, Qwen2 split regex,
    /// byte-level). Anything else, or a malformed file, throws <see cref="ModelFileException"/>.</summary>
    public static QwenTokenizer FromHuggingFaceJson(string tokenizerJsonPath)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonPath);
        var definition = HuggingFaceTokenizerJson.Read(tokenizerJsonPath);
        try
        {
            return new QwenTokenizer(definition.Tokens, definition.Types, definition.Merges, definition.NormalizeNfc);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(tokenizerJsonPath, e.Message, e);
        }
    }

    /// <summary>Number of token ids, added tokens included.</summary>
    public int VocabSize => tokenTexts.Length;

    public int[] Encode(string text, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = scratch.Value!;
        s.Ids.Clear();
        EncodeInto(text, parseSpecial, s);
        int[] ids = s.Ids.Span.ToArray();
        s.Release();
        return ids;
    }

    /// <summary>Appends the ids of text to output (which is not cleared). Lone surrogates encode as U+FFFD.</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> output, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        var s = scratch.Value!;
        s.Ids.Clear();
        EncodeInto(text, parseSpecial, s);
        output.AddRange(s.Ids.Span);
        s.Release();
    }

    private void EncodeInto(ReadOnlySpan<char> text, bool parseSpecial, EncodeScratch s)
    {
        int pos = 0;
        while (pos < text.Length)
        {
            bool found = addedTokens.TryFindNext(text, pos, parseSpecial, out int at, out int length, out int id);
            EncodeOrdinaryText(text[pos..(found ? at : text.Length)], s);
            if (!found) break;
            s.Ids.Add(id);
            pos = at + length;
        }
    }

    private void EncodeOrdinaryText(ReadOnlySpan<char> text, EncodeScratch s)
    {
        if (text.IsEmpty) return;
        if (sentencePiece is not null)
        {
            sentencePiece.Encode(text, s.Ids); // QwenTokenizer.SentencePiece.cs
            return;
        }
        if (normalizeNfc && !NfcNormalizer.IsQuickCheckYes(text))
        {
            s.Normalized.Clear();
            NfcNormalizer.Normalize(text, s.Normalized);
            text = s.Normalized.Span;
        }
        for (int i = 0; i < text.Length;)
        {
            int length = Qwen2PreTokenizer.PieceLength(text, i);
            EncodePiece(text.Slice(i, length), s);
            i += length;
        }
    }

    private void EncodePiece(ReadOnlySpan<char> piece, EncodeScratch s)
    {
        if (piece.Length == 1 && piece[0] < 0x80)
        {
            s.Ids.Add(byteToId[piece[0]]);
            return;
        }
        bool cacheable = piece.Length <= BpeWordCache.MaxPieceLength;
        if (cacheable && s.Cache.TryGet(piece, out var cached))
        {
            s.Ids.Append(cached);
            return;
        }
        s.Utf8.Clear();
        var room = s.Utf8.Reserve(piece.Length * 3);
        int byteCount = Encoding.UTF8.GetBytes(piece, room);   // replaces a lone surrogate with U+FFFD's bytes
        int before = s.Ids.Length;
        s.Merger.Merge(room[..byteCount], byteToId, merges, s.Ids);
        if (cacheable) s.Cache.Add(piece, s.Ids.Span[before..]);
    }

    /// <summary>The text of ids. Byte sequences that are not valid UTF-8 become U+FFFD (as HF's lossy decoding does);
    /// added tokens decode to their text.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        int total = 0;
        foreach (int id in ids) total += TokenBytes(id).Length;
        byte[]? rented = null;
        Span<byte> buffer = total <= 1024 ? stackalloc byte[total] : (rented = ArrayPool<byte>.Shared.Rent(total));
        try
        {
            int at = 0;
            foreach (int id in ids)
            {
                var bytes = TokenBytes(id);
                bytes.CopyTo(buffer[at..]);
                at += bytes.Length;
            }
            // SentencePiece with a space prefix: the space the encoder put before the text is dropped again (as
            // llama_detokenize and HF's decode do).
            int skip = sentencePiece is { AddSpacePrefix: true } && total > 0 && buffer[0] == (byte)' ' ? 1 : 0;
            return Encoding.UTF8.GetString(buffer[skip..total]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The raw bytes a token stands for (for an added token, its UTF-8 text).</summary>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        CheckId(id);
        return bytesArena.AsSpan(bytesOffsets[id], bytesOffsets[id + 1] - bytesOffsets[id]);
    }

    /// <summary>The token as the vocabulary spells it (byte-level alphabet, e.g. "Ġhello").</summary>
    public string TokenText(int id)
    {
        CheckId(id);
        return tokenTexts[id];
    }

    /// <summary>Looks a token up by its vocabulary spelling.</summary>
    public bool TryGetTokenId(string tokenText, out int id)
    {
        ArgumentNullException.ThrowIfNull(tokenText);
        return idsByText.TryGetValue(tokenText, out id);
    }

    /// <summary>True for control tokens (&lt;|endoftext|&gt;, &lt;|im_start|&gt;, &lt;|im_end|&gt;, ...).</summary>
    public bool IsSpecial(int id)
    {
        CheckId(id);
        return tokenTypes[id] == TokenType.Control;
    }

    /// <summary>The GGUF token type of id (1 normal, 3 control, 4 user-defined, ...).</summary>
    internal int TokenTypeOf(int id)
    {
        CheckId(id);
        return tokenTypes[id];
    }

    /// <summary>The longest token's byte count (what a streaming decoder may need to hold at once, plus 3).</summary>
    internal int MaxTokenByteLength { get; }

    public StreamingDecoder CreateStreamingDecoder() => new(this);

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)tokenTexts.Length)
            throw new QwenSharpException($"Token id {id} is outside the vocabulary (0..{tokenTexts.Length - 1}).");
    }
}

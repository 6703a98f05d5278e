using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>The SentencePiece strategy of <see cref="QwenTokenizer"/> (CodeQwen1.5): same public surface, a different
/// encoder (<see cref="SentencePieceBpe"/>). Token bytes: the piece with U+2581 read as a space, byte tokens
/// &lt;0xNN&gt; as their byte, added tokens as their text.</summary>
public sealed partial class QwenTokenizer
{
    private readonly SentencePieceBpe? sentencePiece;

    /// <summary>The encoder kind: "gpt2" (byte-level BPE by merge ranks) or "llama" (SentencePiece BPE by scores).</summary>
    public string Model => sentencePiece is null ? "gpt2" : "llama";

    private QwenTokenizer(IReadOnlyList<string> tokens, byte[] types, float[] scores, bool addSpacePrefix)
    {
        int count = tokens.Count;
        if (count == 0) throw new QwenSharpException("The tokenizer vocabulary is empty.");
        tokenTexts = new string[count];
        tokenTypes = types;
        idsByText = new Dictionary<string, int>(count, StringComparer.Ordinal);
        normalizeNfc = false;   // llama.cpp's SPM tokenizer applies no normalisation
        var allBytes = new byte[count][];
        for (int id = 0; id < count; id++)
        {
            string text = tokens[id] ?? throw new QwenSharpException($"Token {id} of the vocabulary is null.");
            tokenTexts[id] = text;
            if (text.Length > 0) idsByText[text] = id;
            int b = types[id] == TokenType.Byte ? SentencePieceBpe.ParseByteToken(text) : -1;
            if (types[id] == TokenType.Byte && b < 0)
                throw new QwenSharpException($"Token {id} ('{text}') has the byte type but is not spelled <0xNN>.");
            allBytes[id] = b >= 0 ? [(byte)b]
                : TokenType.IsAdded(types[id]) ? Encoding.UTF8.GetBytes(text)
                : Encoding.UTF8.GetBytes(text.Replace(SentencePieceBpe.SpaceMark, ' '));
        }
        MaxTokenByteLength = allBytes.Max(a => a.Length);
        bytesArena = new byte[allBytes.Sum(a => a.Length)];
        bytesOffsets = new int[count + 1];
        for (int id = 0, at = 0; id < count; id++)
        {
            allBytes[id].CopyTo(bytesArena, at);
            at += allBytes[id].Length;
            bytesOffsets[id + 1] = at;
        }
        byteToId = [];
        merges = new BpeMergeTable([]);
        addedTokens = new SpecialTokenMatcher(Enumerable.Range(0, count)
            .Where(id => TokenType.IsAdded(types[id]))
            .Select(id => (tokenTexts[id], id, types[id] == TokenType.Control)));
        sentencePiece = new SentencePieceBpe(idsByText, scores, addSpacePrefix);
    }

    /// <summary>A SentencePiece-style vocabulary as GGUF stores it (tokenizer.ggml.model = "llama").</summary>
    /// <param name="tokens">Pieces by id, spaces written as U+2581; byte tokens as "&lt;0xNN&gt;".</param>
    /// <param name="scores">Merge priority of each piece (higher merges first).</param>
    /// <param name="tokenTypes">GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte), or null.</param>
    /// <param name="addSpacePrefix">Prefix each text fragment with a space (tokenizer.ggml.add_space_prefix;
    /// llama.cpp's default for this model kind is true).</param>
    public static QwenTokenizer FromSentencePiece(IReadOnlyList<string> tokens, IReadOnlyList<float> scores,
        IReadOnlyList<int>? tokenTypes, bool addSpacePrefix = true)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count != tokens.Count)
            throw new QwenSharpException($"The vocabulary has {tokens.Count} tokens but {scores.Count} scores.");
        var types = new byte[tokens.Count];
        for (int id = 0; id < types.Length; id++)
        {
            int type = tokenTypes is null ? (SentencePieceBpe.ParseByteToken(tokens[id]) >= 0 ? TokenType.Byte : TokenType.Normal) : tokenTypes[id];
            if (type is < TokenType.Undefined or > TokenType.Byte)
                throw new QwenSharpException($"Token {id} has type {type}, which is not a GGUF token type (0..6).");
            types[id] = (byte)type;
        }
        if (tokenTypes is not null && tokenTypes.Count != tokens.Count)
            throw new QwenSharpException($"The vocabulary has {tokens.Count} tokens but {tokenTypes.Count} token types.");
        return new QwenTokenizer(tokens, types, [.. scores], addSpacePrefix);
    }

    /// <summary>A SentencePiece vocabulary from an HF folder's tokenizer.model (and, when given, the added tokens of its
    /// tokenizer_config.json), read as llama.cpp's converter reads them: pieces, scores, types, add_dummy_prefix.</summary>
    public static QwenTokenizer FromSentencePieceModel(string tokenizerModelPath, string? tokenizerConfigPath = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerModelPath);
        var vocab = SentencePieceModelFile.Read(tokenizerModelPath);
        if (tokenizerConfigPath is not null) SentencePieceModelFile.AddTokensFromConfig(tokenizerConfigPath, vocab);
        try
        {
            return FromSentencePiece(vocab.Tokens, vocab.Scores, vocab.Types, vocab.AddDummyPrefix);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(tokenizerModelPath, e.Message, e);
        }
    }
}

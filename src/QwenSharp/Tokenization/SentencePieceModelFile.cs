using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace QwenSharp.Tokenization;

/// <summary>
/// Reads a SentencePiece model file (HF folders' tokenizer.model, a protobuf ModelProto): the pieces with their scores
/// and types, and normalizer_spec.add_dummy_prefix, which is what llama.cpp's converter copies into a "llama" GGUF
/// vocabulary. Field numbers from sentencepiece_model.proto: ModelProto.pieces = 1, .normalizer_spec = 3;
/// SentencePiece.piece = 1, .score = 2, .type = 3 (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6,
/// the GGUF token type numbers); NormalizerSpec.add_dummy_prefix = 3 (default true).
/// </summary>
internal static class SentencePieceModelFile
{
    public sealed record Vocabulary(List<string> Tokens, List<float> Scores, List<int> Types, bool AddDummyPrefix);

    public static Vocabulary Read(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (IOException e) { throw new ModelFileException(path, $"cannot read the SentencePiece model: {e.Message}", e); }
        var vocab = new Vocabulary([], [], [], AddDummyPrefix: true);
        try
        {
            bool addDummyPrefix = true;
            var reader = new Reader(data);
            while (reader.More)
            {
                var (field, wire) = reader.Tag();
                if (field == 1 && wire == 2) ReadPiece(reader.Bytes(), vocab);
                else if (field == 3 && wire == 2) addDummyPrefix = ReadAddDummyPrefix(reader.Bytes());
                else reader.Skip(wire);
            }
            if (vocab.Tokens.Count == 0) throw new FormatException("no pieces");
            return vocab with { AddDummyPrefix = addDummyPrefix };
        }
        catch (FormatException e)
        {
            throw new ModelFileException(path, $"not a SentencePiece model file: {e.Message}", e);
        }
    }

    /// <summary>HF tokenizer_config.json "added_tokens_decoder" {id: {content, special}}: tokens added after training
    /// (ChatML, FIM), control when special, user-defined otherwise, as llama.cpp's converter marks them; ids beyond
    /// the pieces grow the vocabulary (holes become [PAD{id}], unused).</summary>
    public static void AddTokensFromConfig(string configPath, Vocabulary vocab)
    {
        try
        {
            AddTokens(configPath, vocab);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IOException)
        {
            throw new ModelFileException(configPath, $"cannot read added_tokens_decoder: {e.Message}", e);
        }
    }

    private static void AddTokens(string configPath, Vocabulary vocab)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
        if (!doc.RootElement.TryGetProperty("added_tokens_decoder", out var added)) return;
        foreach (var entry in added.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, out int id) || id < 0 || id > 1 << 21)
                throw new ModelFileException(configPath, $"added_tokens_decoder key '{entry.Name}' is not a token id");
            string content = entry.Value.GetProperty("content").GetString() ?? "";
            bool special = entry.Value.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
            while (vocab.Tokens.Count <= id)
            {
                vocab.Tokens.Add($"[PAD{vocab.Tokens.Count}]");
                vocab.Scores.Add(0);
                vocab.Types.Add(TokenType.Unused);
            }
            vocab.Tokens[id] = content;
            vocab.Types[id] = special ? TokenType.Control : TokenType.UserDefined;
        }
    }

    private static void ReadPiece(ReadOnlySpan<byte> message, Vocabulary vocab)
    {
        string piece = "";
        float score = 0;
        int type = TokenType.Normal;
        var reader = new Reader(message);
        while (reader.More)
        {
            var (field, wire) = reader.Tag();
            if (field == 1 && wire == 2) piece = Encoding.UTF8.GetString(reader.Bytes());
            else if (field == 2 && wire == 5) score = reader.Float();
            else if (field == 3 && wire == 0) type = (int)reader.Varint();
            else reader.Skip(wire);
        }
        if (type is < TokenType.Normal or > TokenType.Byte) throw new FormatException($"piece '{piece}' has type {type}");
        vocab.Tokens.Add(piece);
        vocab.Scores.Add(score);
        vocab.Types.Add(type);
    }

    private static bool ReadAddDummyPrefix(ReadOnlySpan<byte> message)
    {
        bool value = true;
        var reader = new Reader(message);
        while (reader.More)
        {
            var (field, wire) = reader.Tag();
            if (field == 3 && wire == 0) value = reader.Varint() != 0;
            else reader.Skip(wire);
        }
        return value;
    }

    /// <summary>Protobuf wire format: varints, 32/64-bit fixed, length-delimited.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _at;

        public readonly bool More => _at < _data.Length;

        public (int Field, int Wire) Tag()
        {
            ulong tag = Varint();
            return ((int)(tag >> 3), (int)(tag & 7));
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_at >= _data.Length) throw new FormatException("truncated varint");
                byte b = _data[_at++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw new FormatException("varint longer than 10 bytes");
        }

        public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(_data.Length - _at)) throw new FormatException("length-delimited field runs past the end");
            return Take((int)length);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Take(8); break;
                case 2: Bytes(); break;
                case 5: Take(4); break;
                default: throw new FormatException($"unknown wire type {wire}");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n > _data.Length - _at) throw new FormatException("truncated field");
            var span = _data.Slice(_at, n);
            _at += n;
            return span;
        }
    }
}

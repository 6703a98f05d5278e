using System.Text.Json;

namespace QwenSharp.Tokenization;

/// <summary>The tokenizer files of a HuggingFace Qwen folder: tokenizer.json (preferred, when present), or the older
/// vocab.json + merges.txt pair with the added tokens listed in tokenizer_config.json's added_tokens_decoder; and
/// tokenizer_config.json's chat_template and eos / pad / bos token names.</summary>
public static class HuggingFaceTokenizerFiles
{
    /// <summary>What tokenizer_config.json says besides the vocabulary.</summary>
    public sealed record TokenizerConfig(string? ChatTemplate, string? EosToken, string? PadToken, string? BosToken,
        IReadOnlyList<(int Id, string Content, bool Special)> AddedTokens);

    /// <summary>The folder's tokenizer: tokenizer.json if it exists, else vocab.json + merges.txt (+ tokenizer_config.json).</summary>
    public static QwenTokenizer FromFolder(string dir)
    {
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json)) return QwenTokenizer.FromHuggingFaceJson(json);
        string vocab = Path.Combine(dir, "vocab.json"), merges = Path.Combine(dir, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges))
        {
            string config = Path.Combine(dir, "tokenizer_config.json");
            return FromVocabMerges(vocab, merges, File.Exists(config) ? config : null);
        }
        throw new ModelFileException(dir, "no tokenizer: the folder has neither tokenizer.json nor vocab.json + merges.txt");
    }

    /// <summary>A Qwen2 tokenizer from vocab.json ({token: id}), merges.txt (a "#version" line, then "left right" per
    /// line in rank order) and the added tokens of tokenizer_config.json. The pipeline is Qwen2Tokenizer's: NFC, the
    /// Qwen2 split, byte-level BPE.</summary>
    public static QwenTokenizer FromVocabMerges(string vocabJsonPath, string mergesTxtPath, string? tokenizerConfigPath)
    {
        var textsById = ReadVocab(vocabJsonPath);
        var types = textsById.Keys.ToDictionary(id => id, _ => TokenType.Normal);
        if (tokenizerConfigPath != null)
        {
            foreach (var (id, content, special) in ReadConfig(tokenizerConfigPath).AddedTokens)
            {
                if (textsById.TryGetValue(id, out string? existing) && existing != content)
                    throw new ModelFileException(tokenizerConfigPath, $"added token {id} is \"{content}\" but vocab.json has \"{existing}\" there");
                textsById[id] = content;
                types[id] = special ? TokenType.Control : TokenType.UserDefined;
            }
        }
        if (textsById.Count == 0) throw new ModelFileException(vocabJsonPath, "the vocabulary is empty");
        int count = textsById.Keys.Max() + 1;
        var tokens = new string[count];
        var typeList = new int[count];
        for (int id = 0; id < count; id++)
        {
            tokens[id] = textsById.GetValueOrDefault(id, "");
            typeList[id] = types.GetValueOrDefault(id, TokenType.Unused);
        }
        string[] merges = ReadMerges(mergesTxtPath);
        try
        {
            return QwenTokenizer.FromVocabulary(tokens, typeList, merges);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(mergesTxtPath, e.Message, e);
        }
    }

    /// <summary>The folder's BPE merges in rank order, each "left right" (what GGUF's tokenizer.ggml.merges holds).</summary>
    public static string[] ReadMergeList(string dir)
    {
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json)) return HuggingFaceTokenizerJson.Read(json).Merges.Select(m => m.Left + " " + m.Right).ToArray();
        string merges = Path.Combine(dir, "merges.txt");
        if (File.Exists(merges)) return ReadMerges(merges);
        throw new ModelFileException(dir, "no tokenizer: the folder has neither tokenizer.json nor vocab.json + merges.txt");
    }

    public static TokenizerConfig ReadConfig(string tokenizerConfigPath)
    {
        using var doc = ParseJson(tokenizerConfigPath);
        var root = doc.RootElement;
        var added = new List<(int, string, bool)>();
        if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind != JsonValueKind.Null)
        {
            if (decoder.ValueKind != JsonValueKind.Object)
                throw new ModelFileException(tokenizerConfigPath, "added_tokens_decoder is not an object");
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, null, out int id) || id > 16_000_000)
                    throw new ModelFileException(tokenizerConfigPath, $"added_tokens_decoder key \"{entry.Name}\" is not a token id");
                var token = entry.Value;
                string? content = token.ValueKind == JsonValueKind.Object && token.TryGetProperty("content", out var c)
                    && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                if (string.IsNullOrEmpty(content))
                    throw new ModelFileException(tokenizerConfigPath, $"added token {id} has no \"content\" string");
                foreach (string option in new[] { "lstrip", "rstrip", "single_word" })
                    if (token.TryGetProperty(option, out var o) && o.ValueKind == JsonValueKind.True)
                        throw new ModelFileException(tokenizerConfigPath, $"added token \"{content}\" sets {option}, which this tokenizer does not implement");
                bool special = token.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                added.Add((id, content, special));
            }
        }
        return new TokenizerConfig(TokenName(tokenizerConfigPath, root, "chat_template"), TokenName(tokenizerConfigPath, root, "eos_token"),
            TokenName(tokenizerConfigPath, root, "pad_token"), TokenName(tokenizerConfigPath, root, "bos_token"), added);
    }

    /// <summary>A string, or an AddedToken object's "content" (both spellings occur in tokenizer_config.json).</summary>
    private static string? TokenName(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
            return c.GetString();
        if (key == "chat_template" && v.ValueKind == JsonValueKind.Array)
        {
            // Newer files may list named templates; the one called "default" is the chat template.
            foreach (var t in v.EnumerateArray())
                if (t.ValueKind == JsonValueKind.Object && t.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                    && n.GetString() == "default" && t.TryGetProperty("template", out var tpl) && tpl.ValueKind == JsonValueKind.String)
                    return tpl.GetString();
            return null;
        }
        throw new ModelFileException(path, $"\"{key}\" is {v.ValueKind}, not a string");
    }

    private static Dictionary<int, string> ReadVocab(string path)
    {
        using var doc = ParseJson(path);
        var result = new Dictionary<int, string>();
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0 || id > 16_000_000)
                throw new ModelFileException(path, $"\"{entry.Name}\" has no valid token id");
            if (!result.TryAdd(id, entry.Name))
                throw new ModelFileException(path, $"id {id} is given to both \"{result[id]}\" and \"{entry.Name}\"");
        }
        return result;
    }

    private static string[] ReadMerges(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(path, "cannot read: " + e.Message, e);
        }
        // The first line is "#version: 0.2" in GPT-2-style files; blank lines (the trailing one) carry nothing.
        return lines.Where((l, i) => !(i == 0 && l.StartsWith("#version", StringComparison.Ordinal)) && l.Length > 0).ToArray();
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ModelFileException(path, "not valid UTF-8");
            var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new ModelFileException(path, "the top level is not a JSON object");
            }
            return doc;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, "not valid JSON: " + e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(path, "cannot read: " + e.Message, e);
        }
    }
}

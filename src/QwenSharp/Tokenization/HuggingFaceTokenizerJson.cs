using System.Text.Json;

namespace QwenSharp.Tokenization;

/// <summary>Reads the parts of a HuggingFace tokenizer.json that a Qwen2 tokenizer is made of, and refuses files whose
/// pipeline differs from the one <see cref="QwenTokenizer"/> implements (they would tokenise differently, silently).</summary>
internal static class HuggingFaceTokenizerJson
{
    /// <summary>The Qwen2 pre-tokenizer split pattern, as tokenizer.json spells it.</summary>
    public const string Qwen2SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public sealed record Definition(string[] Tokens, byte[] Types, (string Left, string Right)[] Merges, bool NormalizeNfc);

    private sealed class FormatException(string message) : Exception(message);

    public static Definition Read(string path)
    {
        byte[] json;
        try
        {
            json = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(path, "cannot read the tokenizer file: " + e.Message, e);
        }
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            return Interpret(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, "not valid JSON: " + e.Message, e);
        }
        catch (FormatException e)
        {
            throw new ModelFileException(path, e.Message);
        }
    }

    private static Definition Interpret(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the top level is not a JSON object.");
        bool nfc = ReadNormalizer(root);
        CheckPreTokenizer(root);
        CheckOptionalType(root, "decoder", "ByteLevel");
        CheckOptionalType(root, "post_processor", "ByteLevel");

        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new FormatException("no \"model\" object.");
        CheckModelOptions(model);

        var textsById = new Dictionary<int, string>();
        var types = new Dictionary<int, byte>();
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new FormatException("model.vocab is missing or not an object.");
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new FormatException($"model.vocab[\"{entry.Name}\"] is not a non-negative integer id.");
            if (!textsById.TryAdd(id, entry.Name))
                throw new FormatException($"model.vocab gives id {id} to both \"{textsById[id]}\" and \"{entry.Name}\".");
            types[id] = TokenType.Normal;
        }

        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind != JsonValueKind.Null)
        {
            if (added.ValueKind != JsonValueKind.Array) throw new FormatException("added_tokens is not an array.");
            int index = 0;
            foreach (var token in added.EnumerateArray())
            {
                ReadAddedToken(token, index++, out int id, out string content, out bool special);
                if (textsById.TryGetValue(id, out string? existing) && existing != content)
                    throw new FormatException($"added token {id} is \"{content}\" but model.vocab has \"{existing}\" there.");
                textsById[id] = content;
                types[id] = (byte)(special ? TokenType.Control : TokenType.UserDefined);
            }
        }
        if (textsById.Count == 0) throw new FormatException("the vocabulary is empty.");

        int count = checked(textsById.Keys.Max() + 1);
        if (count > 16_000_000) throw new FormatException($"token id {count - 1} is implausibly large.");
        var tokens = new string[count];
        var typeArray = new byte[count];
        for (int id = 0; id < count; id++)
        {
            // Ids nobody names (holes) stay as empty, unused tokens: never produced, decoding to nothing.
            tokens[id] = textsById.GetValueOrDefault(id, "");
            typeArray[id] = types.GetValueOrDefault(id, (byte)TokenType.Unused);
        }

        return new Definition(tokens, typeArray, ReadMerges(model), nfc);
    }

    private static (string, string)[] ReadMerges(JsonElement model)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw new FormatException("model.merges is missing or not an array.");
        var pairs = new (string, string)[merges.GetArrayLength()];
        int rank = 0;
        foreach (var merge in merges.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                // Older files: "left right", one space between two tokens (byte-level tokens never contain a space).
                string text = merge.GetString()!;
                string[] parts = text.Split(' ');
                if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                    throw new FormatException($"model.merges[{rank}] (\"{text}\") is not two tokens separated by one space.");
                pairs[rank] = (parts[0], parts[1]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                     && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                pairs[rank] = (merge[0].GetString()!, merge[1].GetString()!);
            }
            else
            {
                throw new FormatException($"model.merges[{rank}] is neither \"left right\" nor [\"left\", \"right\"].");
            }
            rank++;
        }
        return pairs;
    }

    private static void ReadAddedToken(JsonElement token, int index, out int id, out string content, out bool special)
    {
        if (token.ValueKind != JsonValueKind.Object) throw new FormatException($"added_tokens[{index}] is not an object.");
        if (!token.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.Number
            || !idElement.TryGetInt32(out id) || id < 0)
            throw new FormatException($"added_tokens[{index}] has no non-negative integer \"id\".");
        if (!token.TryGetProperty("content", out var contentElement) || contentElement.ValueKind != JsonValueKind.String
            || contentElement.GetString()!.Length == 0)
            throw new FormatException($"added_tokens[{index}] has no \"content\" string.");
        content = contentElement.GetString()!;
        special = token.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
        foreach (string option in new[] { "lstrip", "rstrip", "single_word" })
        {
            if (token.TryGetProperty(option, out var value) && value.ValueKind == JsonValueKind.True)
                throw new FormatException($"added token \"{content}\" sets {option}, which this tokenizer does not implement.");
        }
    }

    private static bool ReadNormalizer(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null) return false;
        string type = TypeOf(normalizer, "normalizer");
        if (type == "NFC") return true;
        if (type == "Sequence" && normalizer.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array
            && list.GetArrayLength() == 1 && list[0].ValueKind == JsonValueKind.Object && TypeOf(list[0], "normalizer") == "NFC")
            return true;
        throw new FormatException($"normalizer \"{type}\" is not supported (only NFC or none).");
    }

    private static void CheckPreTokenizer(JsonElement root)
    {
        const string expected = "pre_tokenizer must be the Qwen2 one: Sequence [Split on the Qwen2 regex (Isolated), ByteLevel without prefix space or regex]";
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object
            || TypeOf(pre, "pre_tokenizer") != "Sequence"
            || !pre.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() != 2)
            throw new FormatException(expected + ".");
        var split = list[0];
        var byteLevel = list[1];
        bool splitOk = split.ValueKind == JsonValueKind.Object && TypeOf(split, "pre_tokenizer") == "Split"
            && split.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object
            && pattern.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String
            && regex.GetString() == Qwen2SplitPattern
            && StringProperty(split, "behavior") == "Isolated"
            && !IsTrue(split, "invert");
        bool byteLevelOk = byteLevel.ValueKind == JsonValueKind.Object && TypeOf(byteLevel, "pre_tokenizer") == "ByteLevel"
            && !IsTrue(byteLevel, "add_prefix_space") && !IsTrue(byteLevel, "use_regex");
        if (!splitOk || !byteLevelOk) throw new FormatException(expected + ".");
    }

    private static void CheckModelOptions(JsonElement model)
    {
        if (model.TryGetProperty("type", out var type) && !(type.ValueKind == JsonValueKind.String && type.GetString() == "BPE"))
            throw new FormatException($"model.type is {type}, not BPE.");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind != JsonValueKind.Null)
            throw new FormatException("model.dropout is set; only deterministic BPE is supported.");
        foreach (string flag in new[] { "byte_fallback", "ignore_merges" })
            if (IsTrue(model, flag)) throw new FormatException($"model.{flag} is true, which this tokenizer does not implement.");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(affix, out var value) && value.ValueKind == JsonValueKind.String && value.GetString()!.Length > 0)
                throw new FormatException($"model.{affix} is set, which byte-level BPE does not use.");
    }

    private static void CheckOptionalType(JsonElement root, string name, string allowed)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null) return;
        string type = TypeOf(element, name);
        if (type != allowed) throw new FormatException($"{name} \"{type}\" is not supported (only {allowed} or none).");
    }

    private static string TypeOf(JsonElement element, string what) =>
        element.ValueKind == JsonValueKind.Object ? StringProperty(element, "type") ?? throw new FormatException($"a {what} has no \"type\".")
            : throw new FormatException($"a {what} is not an object.");

    private static string? StringProperty(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool IsTrue(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;
}

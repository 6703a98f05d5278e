using System.Text;
using System.Text.Json;
using QwenSharp.Models;

namespace QwenSharp.Tests.HuggingFace;

/// <summary>Writes a vocabulary in HuggingFace's formats: tokenizer.json as Qwen ships it, or vocab.json + merges.txt
/// with the added tokens in tokenizer_config.json; tokenizer_config.json always (eos, pad, chat template).</summary>
internal static class HfTokenizerWriter
{
    public const string Qwen2Regex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static void Write(string dir, SyntheticVocabulary v, bool vocabMerges)
    {
        var normal = Enumerable.Range(0, v.Tokens.Length).Where(i => v.TokenTypes[i] == 1).ToArray();
        var added = Enumerable.Range(0, v.Tokens.Length).Where(i => v.TokenTypes[i] is 3 or 4).ToArray();
        if (vocabMerges)
        {
            WriteVocabJson(Path.Combine(dir, "vocab.json"), v, normal);
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n" + string.Join("\n", v.Merges) + "\n", new UTF8Encoding(false));
        }
        else
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["version"] = "1.0",
                ["added_tokens"] = added.Select(i => new Dictionary<string, object>
                {
                    ["id"] = i, ["content"] = v.Tokens[i], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                    ["normalized"] = false, ["special"] = v.TokenTypes[i] == 3,
                }).ToArray(),
                ["normalizer"] = new { type = "NFC" },
                ["pre_tokenizer"] = new Dictionary<string, object>
                {
                    ["type"] = "Sequence",
                    ["pretokenizers"] = new object[]
                    {
                        new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new { Regex = Qwen2Regex }, ["behavior"] = "Isolated", ["invert"] = false },
                        new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
                    },
                },
                ["post_processor"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
                ["decoder"] = new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
                ["model"] = new Dictionary<string, object?>
                {
                    ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "",
                    ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                    ["vocab"] = normal.ToDictionary(i => v.Tokens[i], i => i),
                    ["merges"] = v.Merges.Select(m => m.Split(' ')).ToArray(),
                },
            }));
        }
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = added.ToDictionary(i => i.ToString(), i => new Dictionary<string, object>
            {
                ["content"] = v.Tokens[i], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = v.TokenTypes[i] == 3,
            }),
            ["bos_token"] = null,
            ["chat_template"] = SyntheticQwen2.ChatMlTemplateSource,
            ["eos_token"] = v.Tokens[v.Eos],
            ["pad_token"] = v.Tokens[v.Pad],
            ["tokenizer_class"] = "Qwen2Tokenizer",
        }));
    }

    public static void WriteVocabJson(string path, SyntheticVocabulary v, IEnumerable<int> ids) =>
        File.WriteAllText(path, JsonSerializer.Serialize(ids.ToDictionary(i => v.Tokens[i], i => i)));
}

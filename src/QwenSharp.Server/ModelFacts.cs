using System.Globalization;
using QwenSharp.Models;

namespace QwenSharp.Server;

/// <summary>What /api/tags, /api/show, /api/ps and /v1/models say about a model.</summary>
internal static class ModelFacts
{
    public const string Version = "0.12.0";

    public static string OllamaName(string name) => name.Contains(':') ? name : name + ":latest";

    public static string Digest(ModelEntry e)
    {
        var bytes = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{e.Path}|{e.Size}|{e.ModifiedUtc.Ticks}"));
        return Convert.ToHexStringLower(bytes);
    }

    public static string Iso(DateTime utc) => utc.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Ollama's details block, from the file's header (general.file_type, tensor element counts; or
    /// config.json for a folder), so listing never loads weights; a loaded model fills a size the header lacked.</summary>
    public static object Details(ModelEntry e, Qwen2Model? model)
    {
        var facts = ModelFileFacts.Of(e);
        long? count = facts.ParameterCount ?? model?.Config.ParameterCount(model.Weights.TiedOutput);
        return new
        {
            parent_model = "",
            format = e.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? "gguf" : "safetensors",
            family = "qwen2",
            families = new[] { "qwen2" },
            parameter_size = count is { } n ? ParameterSize(n) : "",
            quantization_level = facts.Quantization,
        };
    }

    public static string ParameterSize(long n) =>
        n >= 1_000_000_000 ? (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "B"
        : (n / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M";

    public static Dictionary<string, object> ModelInfo(Qwen2Model model)
    {
        var c = model.Config;
        return new Dictionary<string, object>
        {
            ["general.architecture"] = c.Architecture,
            ["general.name"] = model.Name,
            ["general.parameter_count"] = c.ParameterCount(model.Weights.TiedOutput),
            ["qwen2.context_length"] = c.ContextLength,
            ["qwen2.embedding_length"] = c.HiddenSize,
            ["qwen2.feed_forward_length"] = c.FeedForwardSize,
            ["qwen2.block_count"] = c.LayerCount,
            ["qwen2.attention.head_count"] = c.HeadCount,
            ["qwen2.attention.head_count_kv"] = c.KvHeadCount,
            ["qwen2.rope.freq_base"] = c.RopeFreqBase,
            ["qwen2.attention.layer_norm_rms_epsilon"] = c.RmsNormEps,
            ["tokenizer.ggml.model"] = "gpt2",
            ["tokenizer.vocab_size"] = model.Tokenizer.VocabSize,
        };
    }
}

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

    /// <summary>Ollama's details block; quantization and size come from the loaded model when there is one,
    /// otherwise from the file name (NAME-q8_0 style) so listing never loads anything.</summary>
    public static object Details(ModelEntry e, Qwen2Model? model)
    {
        string quant = model != null ? model.Weights.Layers[0].Wq.Type.ToString().ToUpperInvariant() : GuessQuant(e.Name);
        string? size = model != null ? ParameterSize(model.Config.ParameterCount(model.Weights.TiedOutput)) : null;
        return new
        {
            parent_model = "",
            format = e.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? "gguf" : "safetensors",
            family = "qwen2",
            families = new[] { "qwen2" },
            parameter_size = size ?? "",
            quantization_level = quant,
        };
    }

    public static string ParameterSize(long n) =>
        n >= 1_000_000_000 ? (n / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "B"
        : (n / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M";

    private static string GuessQuant(string name)
    {
        string[] known = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k_m", "q4_k_s", "q5_k_m", "q5_k_s", "q6_k", "f16", "bf16", "f32"];
        string lower = name.ToLowerInvariant();
        return known.FirstOrDefault(k => lower.EndsWith(k, StringComparison.Ordinal))?.ToUpperInvariant() ?? "unknown";
    }

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

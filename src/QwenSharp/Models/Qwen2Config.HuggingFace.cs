using System.Text.Json;

namespace QwenSharp.Models;

/// <summary>The Qwen1.5-MoE fields of a Qwen2MoeForCausalLM config.json (../shared/specs/QWEN15.md §1).</summary>
public sealed record HuggingFaceMoeFields(int ExpertCount, int ExpertsPerToken, int ExpertFeedForwardSize,
    int SharedExpertFeedForwardSize, bool NormTopKProb, int DecoderSparseStep);

/// <summary>What a HuggingFace config.json says about a Qwen2 (or Qwen2-MoE) model: the decoder's hyper-parameters as
/// a <see cref="Qwen2Config"/> plus the fields that live elsewhere in a GGUF file.</summary>
public sealed record HuggingFaceConfig
{
    public required Qwen2Config Config { get; init; }

    /// <summary>"qwen2" or "qwen2_moe" (config.json model_type).</summary>
    public required string ModelType { get; init; }

    public required bool TieWordEmbeddings { get; init; }

    public int? BosTokenId { get; init; }

    public int[] EosTokenIds { get; init; } = [];

    /// <summary>Set for Qwen2MoeForCausalLM configs.</summary>
    public HuggingFaceMoeFields? Moe { get; init; }

    // Same generous bounds as the GGUF reader.
    private const int MaxHidden = Qwen2Config.MaxHidden, MaxFfn = Qwen2Config.MaxFfn, MaxLayers = Qwen2Config.MaxLayers,
        MaxHeads = Qwen2Config.MaxHeads, MaxVocab = Qwen2Config.MaxVocab;

    /// <summary>Reads and checks config.json. Anything QwenSharp would compute differently from transformers
    /// (another activation, sliding window, rope scaling) is refused with a <see cref="ModelFileException"/>.</summary>
    public static HuggingFaceConfig Read(string configJsonPath)
    {
        JsonDocument doc;
        try
        {
            byte[] bytes = File.ReadAllBytes(configJsonPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ModelFileException(configJsonPath, "not valid UTF-8");
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelFileException(configJsonPath, "not valid JSON: " + e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(configJsonPath, "cannot read: " + e.Message, e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFileException(configJsonPath, "the top level is not a JSON object");
            return Interpret(configJsonPath, root);
        }
    }

    private static HuggingFaceConfig Interpret(string path, JsonElement root)
    {
        string modelType = String(path, root, "model_type") ?? "";
        if (modelType is not ("qwen2" or "qwen2_moe"))
            throw new ModelFileException(path, $"model_type '{modelType}' is not a Qwen2 model (expected qwen2 or qwen2_moe)");
        string? act = String(path, root, "hidden_act");
        if (act is not (null or "silu"))
            throw new ModelFileException(path, $"hidden_act '{act}' is not supported (Qwen2 uses silu)");
        if (Bool(path, root, "use_sliding_window") == true)
            throw new ModelFileException(path, "use_sliding_window is true: sliding-window attention is not supported");
        if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null)
            throw new ModelFileException(path, "rope_scaling is set: scaled RoPE is not supported");

        int Int(string key, int max, int? fallback = null)
        {
            long? v = Long(path, root, key);
            if (v is null)
                return fallback ?? throw new ModelFileException(path, $"\"{key}\" is missing");
            if (v < 1 || v > max) throw new ModelFileException(path, $"\"{key}\" = {v} is out of range (1..{max})");
            return (int)v;
        }

        int heads = Int("num_attention_heads", MaxHeads);
        var config = new Qwen2Config
        {
            Architecture = modelType == "qwen2_moe" ? "qwen2moe" : "qwen2",
            VocabSize = Int("vocab_size", MaxVocab),
            HiddenSize = Int("hidden_size", MaxHidden),
            FeedForwardSize = Int("intermediate_size", MaxFfn),
            LayerCount = Int("num_hidden_layers", MaxLayers),
            HeadCount = heads,
            KvHeadCount = Int("num_key_value_heads", MaxHeads, heads),
            ContextLength = Int("max_position_embeddings", 1 << 24),
            RopeFreqBase = (float)(Double(path, root, "rope_theta") ?? 10000.0),
            RmsNormEps = (float)(Double(path, root, "rms_norm_eps") ?? 1e-6),
        };
        string? problem = config.Problem();
        if (problem != null) throw new ModelFileException(path, problem);

        HuggingFaceMoeFields? moe = null;
        if (modelType == "qwen2_moe")
        {
            moe = new HuggingFaceMoeFields(Int("num_experts", 4096), Int("num_experts_per_tok", 4096), Int("moe_intermediate_size", MaxFfn),
                Int("shared_expert_intermediate_size", MaxFfn), Bool(path, root, "norm_topk_prob") ?? false, Int("decoder_sparse_step", 1024, 1));
            if (moe.ExpertsPerToken > moe.ExpertCount)
                throw new ModelFileException(path, $"num_experts_per_tok {moe.ExpertsPerToken} exceeds num_experts {moe.ExpertCount}");
            config = config with
            {
                Moe = new Qwen2MoeConfig
                {
                    ExpertCount = moe.ExpertCount, ExpertUsedCount = moe.ExpertsPerToken, ExpertFeedForwardSize = moe.ExpertFeedForwardSize,
                    SharedFeedForwardSize = moe.SharedExpertFeedForwardSize, NormTopKProb = moe.NormTopKProb,
                },
            };
        }

        return new HuggingFaceConfig
        {
            Config = config,
            ModelType = modelType,
            TieWordEmbeddings = Bool(path, root, "tie_word_embeddings") ?? false,
            BosTokenId = (int?)Long(path, root, "bos_token_id"),
            EosTokenIds = IdList(path, root, "eos_token_id"),
            Moe = moe,
        };
    }

    /// <summary>An id or a list of ids (generation_config.json and config.json both use either form).</summary>
    internal static int[] IdList(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.Number) return [CheckedId(path, key, v)];
        if (v.ValueKind == JsonValueKind.Array) return v.EnumerateArray().Select(e => CheckedId(path, key, e)).ToArray();
        throw new ModelFileException(path, $"\"{key}\" is neither an id nor a list of ids");
    }

    private static int CheckedId(string path, string key, JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0 ? id
            : throw new ModelFileException(path, $"\"{key}\" holds {e}, not a token id");

    internal static long? Long(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long l)) return l;
        throw new ModelFileException(path, $"\"{key}\" is {v.ValueKind}, not an integer");
    }

    internal static double? Double(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)) return d;
        throw new ModelFileException(path, $"\"{key}\" is {v.ValueKind}, not a number");
    }

    internal static bool? Bool(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        throw new ModelFileException(path, $"\"{key}\" is {v.ValueKind}, not true or false");
    }

    internal static string? String(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        throw new ModelFileException(path, $"\"{key}\" is {v.ValueKind}, not a string");
    }
}

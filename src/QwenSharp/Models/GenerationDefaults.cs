using System.Text.Json;
using QwenSharp.Generation;

namespace QwenSharp.Models;

/// <summary>A HuggingFace generation_config.json: the sampling its authors meant the model to use. Fields it does not
/// set take transformers' GenerationConfig defaults (temperature 1, top_k 50, top_p 1, repetition_penalty 1), as
/// model.generate() would; do_sample false means greedy decoding.</summary>
public sealed record GenerationDefaults
{
    public bool DoSample { get; init; }
    public float? Temperature { get; init; }
    public int? TopK { get; init; }
    public float? TopP { get; init; }
    public float? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }
    public int[] EosTokenIds { get; init; } = [];

    /// <summary>The sampling settings generate() would use. transformers' repetition penalty looks at the whole
    /// sequence, hence RepeatLastN -1; it has no min-p unless asked, hence MinP 0.</summary>
    public SamplingOptions ToSamplingOptions()
    {
        if (!DoSample) return SamplingOptions.Greedy with { RepeatPenalty = RepetitionPenalty ?? 1f, RepeatLastN = -1 };
        return new SamplingOptions
        {
            Temperature = Temperature ?? 1f,
            TopK = TopK ?? 50,
            TopP = TopP ?? 1f,
            MinP = 0f,
            RepeatPenalty = RepetitionPenalty ?? 1f,
            RepeatLastN = -1,
        };
    }

    public static GenerationDefaults Read(string path)
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ModelFileException(path, "not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFileException(path, "the top level is not a JSON object");
            var d = new GenerationDefaults
            {
                DoSample = HuggingFaceConfig.Bool(path, root, "do_sample") ?? false,
                Temperature = (float?)HuggingFaceConfig.Double(path, root, "temperature"),
                TopK = (int?)HuggingFaceConfig.Long(path, root, "top_k"),
                TopP = (float?)HuggingFaceConfig.Double(path, root, "top_p"),
                RepetitionPenalty = (float?)HuggingFaceConfig.Double(path, root, "repetition_penalty"),
                MaxNewTokens = (int?)HuggingFaceConfig.Long(path, root, "max_new_tokens"),
                EosTokenIds = HuggingFaceConfig.IdList(path, root, "eos_token_id"),
            };
            try
            {
                d.ToSamplingOptions().Validate();
            }
            catch (QwenSharpException e) when (e is not ModelFileException)
            {
                throw new ModelFileException(path, e.Message, e);
            }
            return d;
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

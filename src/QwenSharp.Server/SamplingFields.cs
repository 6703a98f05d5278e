using QwenSharp.Generation;

namespace QwenSharp.Server;

/// <summary>The sampling knobs both APIs share, as they arrive (null = not given), mapped onto
/// <see cref="SamplingOptions"/> over an API's defaults.</summary>
internal sealed record SamplingFields
{
    public float? Temperature { get; init; }
    public int? TopK { get; init; }
    public float? TopP { get; init; }
    public float? MinP { get; init; }
    public float? RepeatPenalty { get; init; }
    public int? RepeatLastN { get; init; }
    public float? PresencePenalty { get; init; }
    public float? FrequencyPenalty { get; init; }
    public long? Seed { get; init; }

    /// <summary>Ollama's defaults (its Modelfile defaults: temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1).</summary>
    public static SamplingOptions OllamaDefaults { get; } = new()
    {
        Temperature = 0.8f, TopK = 40, TopP = 0.9f, MinP = 0f, RepeatPenalty = 1.1f, RepeatLastN = 64,
    };

    /// <summary>OpenAI's: temperature 1, nucleus off, no top-k or min-p, no penalties.</summary>
    public static SamplingOptions OpenAiDefaults { get; } = new()
    {
        Temperature = 1f, TopK = 0, TopP = 1f, MinP = 0f, RepeatPenalty = 1f, RepeatLastN = 64,
    };

    public SamplingOptions Apply(SamplingOptions defaults)
    {
        var s = defaults with
        {
            Temperature = Temperature ?? defaults.Temperature,
            TopK = TopK ?? defaults.TopK,
            TopP = TopP ?? defaults.TopP,
            MinP = MinP ?? defaults.MinP,
            RepeatPenalty = RepeatPenalty ?? defaults.RepeatPenalty,
            RepeatLastN = RepeatLastN ?? defaults.RepeatLastN,
            PresencePenalty = PresencePenalty ?? defaults.PresencePenalty,
            FrequencyPenalty = FrequencyPenalty ?? defaults.FrequencyPenalty,
            // A negative seed (Ollama's -1) means random.
            Seed = Seed is long seed && seed >= 0 ? (ulong)seed : null,
        };
        // TopP 0 from a client means "as greedy as it gets": the smallest allowed nucleus.
        if (s.TopP <= 0f) s = s with { TopP = 1e-6f };
        try
        {
            s.Validate();
        }
        catch (QwenSharpException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
        return s;
    }
}

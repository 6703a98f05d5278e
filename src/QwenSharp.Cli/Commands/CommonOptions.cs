using System.CommandLine;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>Options several commands share: runtime sizing and sampling.</summary>
internal sealed class RuntimeOptions
{
    public readonly Option<int> Threads = new("--threads", "-t") { Description = "Compute threads (default: physical cores)" };
    public readonly Option<int> Ctx = new("--ctx", "-c") { Description = "Context length in tokens (default: min(model's, 4096))" };
    public readonly Option<string> KvType;
    public readonly Option<string?> Quantize = new("--quantize") { Description = "Quantize F32/F16/BF16 weights at load: q8_0, q4_0 or q4_k" };
    public readonly Option<bool> NoRepack = NoRepackOption();

    /// <summary>--no-repack: keep every weight in the file's layout (ModelLoadOptions.RepackWeights = false).</summary>
    public static Option<bool> NoRepackOption() => new("--no-repack")
    {
        Description = "Keep Q4_0, Q8_0, Q4_K and Q6_K weights in the file's layout instead of repacking them at load, and F16 weights in the file's pages instead of private copies, both for faster decoding and prompts (loads faster; the file's pages stay shared)",
    };

    public RuntimeOptions(string defaultKvType = "f16")
    {
        KvType = new("--kv-type") { Description = $"KV cache element type: f16 or f32 (default {defaultKvType})", DefaultValueFactory = _ => defaultKvType };
    }

    public void AddTo(Command c)
    {
        c.Options.Add(Threads);
        c.Options.Add(Ctx);
        c.Options.Add(KvType);
        c.Options.Add(Quantize);
        c.Options.Add(NoRepack);
    }

    public ModelLoadOptions LoadOptions(ParseResult r) => new()
    {
        Quantize = r.GetValue(Quantize) is { } q ? ModelLoadOptions.ParseQuantizeType(q) : null,
        RepackWeights = !r.GetValue(NoRepack),
        DecodeThreads = Math.Max(0, r.GetValue(Threads)),   // the weights laid out for the threads that will read them
    };

    public ContextOptions Read(ParseResult r, int maxSequences = 1)
    {
        int threads = r.GetValue(Threads), ctx = r.GetValue(Ctx);
        if (threads < 0) throw new QwenSharpException($"--threads must be positive, got {threads}");
        if (ctx < 0) throw new QwenSharpException($"--ctx must be positive, got {ctx}");
        var kv = r.GetValue(KvType)?.ToLowerInvariant() switch
        {
            "f16" or null => KvCacheType.F16,
            "f32" => KvCacheType.F32,
            var other => throw new QwenSharpException($"--kv-type must be f16 or f32, got '{other}'"),
        };
        return new ContextOptions { Threads = threads, ContextLength = ctx, KvCacheType = kv, MaxSequences = maxSequences };
    }
}

internal sealed class SamplingFlags
{
    private static readonly SamplingOptions Defaults = new();
    public readonly Option<float?> Temperature = new("--temperature", "--temp") { Description = $"Sampling temperature; 0 = greedy (default {Defaults.Temperature})" };
    public readonly Option<int?> TopK = new("--top-k") { Description = $"Keep the K most likely tokens; 0 = off (default {Defaults.TopK})" };
    public readonly Option<float?> TopP = new("--top-p") { Description = $"Nucleus sampling; 1 = off (default {Defaults.TopP})" };
    public readonly Option<float?> MinP = new("--min-p") { Description = $"Drop tokens below min-p x the top probability; 0 = off (default {Defaults.MinP})" };
    public readonly Option<float?> RepeatPenalty = new("--repeat-penalty") { Description = $"Repetition penalty; 1 = off (default {Defaults.RepeatPenalty})" };
    public readonly Option<int?> RepeatLastN = new("--repeat-last-n") { Description = $"Tokens the repetition penalty looks back over (default {Defaults.RepeatLastN})" };
    public readonly Option<float?> PresencePenalty = new("--presence-penalty") { Description = "Presence penalty (default 0)" };
    public readonly Option<float?> FrequencyPenalty = new("--frequency-penalty") { Description = "Frequency penalty (default 0)" };
    public readonly Option<ulong?> Seed = new("--seed") { Description = "Random seed: the same seed gives the same text (default: random)" };
    public readonly Option<int> MaxTokens = new("--max-tokens", "-n") { Description = "Most tokens to generate; -1 = until the model stops", DefaultValueFactory = _ => -1 };
    public readonly Option<string[]> Stop = new("--stop") { Description = "Stop when this text appears (repeatable)", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command c)
    {
        foreach (Option o in new Option[] { Temperature, TopK, TopP, MinP, RepeatPenalty, RepeatLastN, PresencePenalty, FrequencyPenalty, Seed, MaxTokens, Stop })
            c.Options.Add(o);
    }

    public GenerationOptions Read(ParseResult r, SamplingOptions? modelDefaults = null)
    {
        var s = modelDefaults ?? Defaults;
        s = s with
        {
            Temperature = r.GetValue(Temperature) ?? s.Temperature,
            TopK = r.GetValue(TopK) ?? s.TopK,
            TopP = r.GetValue(TopP) ?? s.TopP,
            MinP = r.GetValue(MinP) ?? s.MinP,
            RepeatPenalty = r.GetValue(RepeatPenalty) ?? s.RepeatPenalty,
            RepeatLastN = r.GetValue(RepeatLastN) ?? s.RepeatLastN,
            PresencePenalty = r.GetValue(PresencePenalty) ?? s.PresencePenalty,
            FrequencyPenalty = r.GetValue(FrequencyPenalty) ?? s.FrequencyPenalty,
            Seed = r.GetValue(Seed) ?? s.Seed,
        };
        s.Validate();
        return new GenerationOptions
        {
            Sampling = s,
            MaxTokens = r.GetValue(MaxTokens),
            StopStrings = r.GetValue(Stop) ?? [],
        };
    }
}

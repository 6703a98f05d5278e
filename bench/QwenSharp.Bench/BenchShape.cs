using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Bench;

/// <summary>Which model shape the benchmark runs: the dense Qwen1.5-0.5B (default) or the MoE one.</summary>
internal sealed record BenchShape(string Name, string Description, string Stem, SyntheticModelSpec Spec)
{
    public static readonly BenchShape Dense05B = new("0.5b", "synthetic Qwen1.5-0.5B shape", "synthetic-qwen1.5-0.5b-v1",
        SyntheticModelSpec.Qwen15_0_5B with { WeightType = GgmlType.F32, Seed = 2026 });

    /// <summary>Qwen1.5-MoE-A2.7B's real widths (hidden 2048, 16 heads, 60 experts, top-4, expert width 1408, shared
    /// width 5632) in 2 layers, with the small byte-level vocabulary so that the output head does not drown the expert
    /// blocks being measured. Untied: llama.cpp requires output.weight for qwen2moe.</summary>
    public static readonly BenchShape Moe2Layer = new("moe-2layer",
        "synthetic Qwen1.5-MoE-A2.7B widths (60 experts, top-4), 2 layers, byte-level vocabulary", "synthetic-qwen1.5-moe-a2.7b-2layer-v1",
        new SyntheticModelSpec
        {
            HiddenSize = 2048, FeedForwardSize = 5632, LayerCount = 2, HeadCount = 16, KvHeadCount = 16, ContextLength = 8192,
            TiedEmbeddings = false, InitStd = 0.05f, Seed = 2026, Moe = SyntheticMoeSpec.Qwen15MoeA27B, Name = "synthetic-qwen1.5-moe-a2.7b-2layer",
        });

    public static readonly IReadOnlyList<BenchShape> All = [Dense05B, Moe2Layer];

    public static BenchShape Parse(string name) =>
        All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new QwenSharpException($"--shape: unknown shape '{name}' (known: {string.Join(", ", All.Select(s => s.Name))})");
}

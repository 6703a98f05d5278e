using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>Experts of a synthetic qwen2moe model (Qwen1.5-MoE-A2.7B: 60 experts, top-4, expert width 1408, shared
/// expert width 5632).</summary>
public sealed record SyntheticMoeSpec
{
    public int ExpertCount { get; init; } = 8;
    public int ExpertUsedCount { get; init; } = 4;
    public int ExpertFeedForwardSize { get; init; } = 256;
    public int SharedFeedForwardSize { get; init; } = 512;

    /// <summary>Qwen1.5-MoE-A2.7B's expert shapes (../shared/specs/QWEN15.md §1).</summary>
    public static SyntheticMoeSpec Qwen15MoeA27B => new()
    {
        ExpertCount = 60, ExpertUsedCount = 4, ExpertFeedForwardSize = 1408, SharedFeedForwardSize = 5632,
    };
}

public static partial class SyntheticQwen2
{
    private static void AddMoeMetadata(GgufWriter w, string arch, SyntheticMoeSpec moe)
    {
        w.Add($"{arch}.expert_count", (uint)moe.ExpertCount);
        w.Add($"{arch}.expert_used_count", (uint)moe.ExpertUsedCount);
        w.Add($"{arch}.expert_feed_forward_length", (uint)moe.ExpertFeedForwardSize);
        w.Add($"{arch}.expert_shared_feed_forward_length", (uint)moe.SharedFeedForwardSize);
    }

    /// <summary>One layer's MoE block with the names and shapes of llama.cpp's converter: router [E, H], experts
    /// stacked as 3-D tensors (ne = {cols, rows, E}), shared expert and its gate vector.</summary>
    private static void AddMoeTensors(GgufWriter w, string p, SyntheticModelSpec spec, SplitMix rng)
    {
        var moe = spec.Moe!;
        int h = spec.HiddenSize, e = moe.ExpertCount, fe = moe.ExpertFeedForwardSize, fs = moe.SharedFeedForwardSize;
        float std = spec.InitStd;
        // The router stays F32, as llama.cpp's quantizer leaves it.
        AddMatrix(w, p + "ffn_gate_inp.weight", e, h, GgmlType.F32, rng.Fork(), std);
        AddExperts(w, p + "ffn_gate_exps.weight", e, fe, h, spec.WeightType, rng.Fork(), std);
        AddExperts(w, p + "ffn_up_exps.weight", e, fe, h, spec.WeightType, rng.Fork(), std);
        AddExperts(w, p + "ffn_down_exps.weight", e, h, fe, spec.WeightType, rng.Fork(), std);
        AddVector(w, p + "ffn_gate_inp_shexp.weight", h, rng.Fork(), 0f, std);
        AddMatrix(w, p + "ffn_gate_shexp.weight", fs, h, spec.WeightType, rng.Fork(), std);
        AddMatrix(w, p + "ffn_up_shexp.weight", fs, h, spec.WeightType, rng.Fork(), std);
        AddMatrix(w, p + "ffn_down_shexp.weight", h, fs, spec.WeightType, rng.Fork(), std);
    }

    private static void AddExperts(GgufWriter w, string name, int experts, int rows, int cols, GgmlType type, SplitMix rng, float std)
    {
        if (!RowQuantizer.CanQuantize(type)) throw new QwenSharpException($"cannot write synthetic weights of type {type}");
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        w.AddTensor(name, type, [cols, rows, experts], rowBytes * rows * experts, stream =>
        {
            var values = new float[cols];
            var bytes = new byte[rowBytes];
            float a = std * MathF.Sqrt(3f);
            for (long r = 0; r < (long)rows * experts; r++)
            {
                for (int c = 0; c < cols; c++) values[c] = a * rng.NextSigned();
                RowQuantizer.Row(type, values, bytes);
                stream.Write(bytes);
            }
        });
    }
}

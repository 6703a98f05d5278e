using QwenSharp.Formats;

namespace QwenSharp.Models;

/// <summary>The GGUF-named tensors a Qwen2-MoE HuggingFace folder holds once seen through <see cref="HfTensorSource"/>:
/// the dense attention and norms, the router, every expert's three matrices as separate tensors (not the stacked
/// ffn_*_exps of a GGUF file), and the shared expert with its gate.</summary>
public static class HfMoeTensorNames
{
    public static IEnumerable<string> All(Qwen2Config c, bool withOutput)
    {
        var moe = c.Moe ?? throw new ArgumentException("not an MoE config", nameof(c));
        yield return "token_embd.weight";
        yield return "output_norm.weight";
        if (withOutput) yield return "output.weight";
        for (int i = 0; i < c.LayerCount; i++)
        {
            foreach (string s in new[] { "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q.bias", "attn_k.bias",
                         "attn_v.bias", "attn_output.weight", "ffn_norm.weight", "ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight",
                         "ffn_gate_shexp.weight", "ffn_up_shexp.weight", "ffn_down_shexp.weight" })
                yield return $"blk.{i}.{s}";
            for (int e = 0; e < moe.ExpertCount; e++)
                foreach (string projection in new[] { "gate", "up", "down" })
                    yield return HfTensorNames.ExpertGguf(i, e, projection);
        }
    }
}

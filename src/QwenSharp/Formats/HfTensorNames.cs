using System.Text.RegularExpressions;

namespace QwenSharp.Formats;

/// <summary>HuggingFace Qwen2 / Qwen2-MoE parameter names to the GGUF names llama.cpp's converter gives them
/// (../shared/specs/QWEN15.md §5), and back.</summary>
public static partial class HfTensorNames
{
    // (HF suffix after "model.layers.N.", GGUF suffix after "blk.N.")
    private static readonly (string Hf, string Gguf)[] LayerNames =
    [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
        // Qwen2-MoE
        ("mlp.gate.weight", "ffn_gate_inp.weight"),
        ("mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"),
        ("mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"),
        ("mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"),
        ("mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"),
    ];

    private static readonly (string Hf, string Gguf)[] GlobalNames =
    [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];

    private static readonly Dictionary<string, string> LayerHfToGguf = LayerNames.ToDictionary(p => p.Hf, p => p.Gguf);
    private static readonly Dictionary<string, string> LayerGgufToHf = LayerNames.ToDictionary(p => p.Gguf, p => p.Hf);

    [GeneratedRegex(@"^model\.layers\.(\d{1,6})\.(.+)$")]
    private static partial Regex HfLayer();

    [GeneratedRegex(@"^blk\.(\d{1,6})\.(.+)$")]
    private static partial Regex GgufLayer();

    [GeneratedRegex(@"^model\.layers\.(\d{1,6})\.mlp\.experts\.(\d{1,6})\.(gate|up|down)_proj\.weight$")]
    private static partial Regex HfExpert();

    [GeneratedRegex(@"^blk\.(\d{1,6})\.ffn_(gate|up|down)_exps\.(\d{1,6})\.weight$")]
    private static partial Regex GgufExpert();

    /// <summary>The name one expert's matrix has when a folder is loaded without stacking (blk.N.ffn_X_exps.E.weight:
    /// slice E of the GGUF tensor blk.N.ffn_X_exps.weight), so each expert stays where the safetensors shard has it.</summary>
    public static string ExpertGguf(int layer, int expert, string projection) => $"blk.{layer}.ffn_{projection}_exps.{expert}.weight";

    /// <summary>Buffers some old checkpoints carry that no engine reads (RoPE's inverse frequencies).</summary>
    public static bool IsIgnorable(string hfName) => hfName.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    /// <summary>The GGUF name of a dense (non-expert) tensor, or null when the name is not a Qwen2 parameter.</summary>
    public static string? ToGguf(string hfName)
    {
        foreach (var (hf, gguf) in GlobalNames) if (hf == hfName) return gguf;
        var m = HfLayer().Match(hfName);
        if (m.Success && LayerHfToGguf.TryGetValue(m.Groups[2].Value, out string? suffix))
            return $"blk.{int.Parse(m.Groups[1].ValueSpan)}.{suffix}";
        return null;
    }

    /// <summary>The HF name of a GGUF tensor name (for messages and for the converter), or null.</summary>
    public static string? ToHf(string ggufName)
    {
        foreach (var (hf, gguf) in GlobalNames) if (gguf == ggufName) return hf;
        var m = GgufLayer().Match(ggufName);
        if (m.Success && LayerGgufToHf.TryGetValue(m.Groups[2].Value, out string? suffix))
            return $"model.layers.{int.Parse(m.Groups[1].ValueSpan)}.{suffix}";
        var x = GgufExpert().Match(ggufName);
        if (x.Success)
            return $"model.layers.{int.Parse(x.Groups[1].ValueSpan)}.mlp.experts.{int.Parse(x.Groups[3].ValueSpan)}.{x.Groups[2].Value}_proj.weight";
        return null;
    }

    /// <summary>Layer, expert and projection ("gate", "up", "down") of an MoE expert weight, which GGUF stacks
    /// into one 3-D blk.N.ffn_X_exps tensor.</summary>
    public static bool TryParseExpert(string hfName, out int layer, out int expert, out string projection)
    {
        var m = HfExpert().Match(hfName);
        layer = m.Success ? int.Parse(m.Groups[1].ValueSpan) : -1;
        expert = m.Success ? int.Parse(m.Groups[2].ValueSpan) : -1;
        projection = m.Success ? m.Groups[3].Value : "";
        return m.Success;
    }
}

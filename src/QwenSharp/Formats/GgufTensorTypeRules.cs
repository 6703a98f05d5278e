using System.Text.RegularExpressions;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>The type each tensor gets in a converted file, following llama.cpp: convert_hf_to_gguf.py for the float
/// types and q8_0 (vectors and the MoE router stay F32, every other matrix takes the type), and llama-quantize's
/// llama_tensor_get_type for q4_0 / q4_k_m / q6_k (output head Q6_K, or Q8_0 when its rows do not fit 256-element
/// blocks; for q4_k_m, attn_v and every ffn_down (dense, experts, shared expert) of the "more bits" layers Q6_K; a K-quant whose rows do not fit falls
/// back: Q4_K -> Q5_0, Q6_K -> Q8_0, then F16).</summary>
public static partial class GgufTensorTypeRules
{
    [GeneratedRegex(@"^blk\.(\d+)\.")]
    private static partial Regex LayerIndex();

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between.</summary>
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    public static GgmlType Choose(GgufOutputType output, string name, long[] dims, int layerCount, bool hasOutput)
    {
        bool matrix = dims.Length >= 2;
        if (!matrix || name.Contains("ffn_gate_inp", StringComparison.Ordinal)) return GgmlType.F32;
        long rowLength = dims[0];
        switch (output)
        {
            case GgufOutputType.F32:
            case GgufOutputType.F16:
            case GgufOutputType.BF16:
            case GgufOutputType.Q8_0:
                // The converter falls back to F16 when a row is not a whole number of Q8_0 blocks.
                var t = GgufOutputTypes.BaseType(output);
                return rowLength % GgmlTypeInfo.Block(t).BlockSize == 0 ? t : GgmlType.F16;
        }

        var type = GgufOutputTypes.BaseType(output);
        bool isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight");
        if (isOutput)
        {
            type = rowLength % 256 != 0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
        }
        else if (output == GgufOutputType.Q4_K_M && (name.EndsWith(".attn_v.weight", StringComparison.Ordinal)
                 || name.Contains(".ffn_down", StringComparison.Ordinal)))
        {
            var m = LayerIndex().Match(name);
            if (m.Success && UseMoreBits(int.Parse(m.Groups[1].ValueSpan), layerCount)) type = GgmlType.Q6_K;
        }
        return RowQuantizer.FitRow(type, rowLength);
    }
}

using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>One GGUF tensor to write from a HuggingFace folder: its ggml dims and the safetensors tensors whose bytes,
/// one after the other, make it up (one for dense weights; every expert's, in expert order, for the 3-D MoE
/// ffn_*_exps tensors, as llama.cpp's converter stacks them).</summary>
public sealed record HfPlannedTensor(string Name, long[] Dims, GgmlType SourceType, IReadOnlyList<(SafetensorsTensorInfo Info, SafetensorsFile Shard)> Parts)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Which GGUF tensors a Qwen2 / Qwen2-MoE config needs, with their dims, matched against a folder's
/// safetensors: a missing tensor, an extra one, a wrong shape or an unusable dtype is a <see cref="ModelFileException"/>
/// naming the HF tensor.</summary>
public static class HfTensorPlan
{
    public static List<HfPlannedTensor> Build(SafetensorsFolder folder, HuggingFaceConfig hf)
    {
        var c = hf.Config;
        var moe = hf.Moe;
        if (moe != null && moe.DecoderSparseStep != 1)
            throw new ModelFileException(folder.DirectoryPath, $"decoder_sparse_step {moe.DecoderSparseStep}: only MoE in every layer (1) is supported");
        long h = c.HiddenSize, kv = c.KvDim, v = c.VocabSize;
        var used = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<HfPlannedTensor>();

        (SafetensorsTensorInfo, SafetensorsFile) Find(string hfName, long[] ggmlDims)
        {
            var found = folder.Find(hfName) ?? throw new ModelFileException(folder.DirectoryPath, $"missing tensor {hfName}");
            var (info, shard) = found;
            long[] expected = ggmlDims.Reverse().ToArray();
            // A 1-D GGUF vector may come from an HF [1, n] (shared_expert_gate) and vice versa: compare element layout.
            bool same = info.Shape.SequenceEqual(expected) || info.Shape.Where(d => d != 1).SequenceEqual(expected.Where(d => d != 1));
            if (!same)
                throw new ModelFileException(shard.FilePath, $"tensor {hfName} has shape [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", expected)}] from config.json");
            if (!SafetensorsDType.TryGetGgmlType(info.DType, out _))
                throw new ModelFileException(shard.FilePath, $"tensor {hfName} has dtype {info.DType}; only F32, F16 and BF16 can be converted");
            used.Add(hfName);
            return found;
        }

        void Add(string gguf, long[] dims, params string[] hfNames)
        {
            var parts = new List<(SafetensorsTensorInfo, SafetensorsFile)>();
            long[] partDims = hfNames.Length == 1 ? dims : dims[..^1];
            foreach (string name in hfNames) parts.Add(Find(name, partDims));
            var dtypes = parts.Select(p => p.Item1.DType).Distinct().ToArray();
            if (dtypes.Length != 1)
                throw new ModelFileException(folder.DirectoryPath, $"the tensors stacked into {gguf} mix dtypes ({string.Join(", ", dtypes)})");
            SafetensorsDType.TryGetGgmlType(dtypes[0], out var type);
            plan.Add(new HfPlannedTensor(gguf, dims, type, parts));
        }

        Add("token_embd.weight", [h, v], "model.embed_tokens.weight");
        for (int i = 0; i < c.LayerCount; i++)
        {
            string g = $"blk.{i}.", p = $"model.layers.{i}.";
            Add(g + "attn_norm.weight", [h], p + "input_layernorm.weight");
            Add(g + "attn_q.weight", [h, h], p + "self_attn.q_proj.weight");
            Add(g + "attn_q.bias", [h], p + "self_attn.q_proj.bias");
            Add(g + "attn_k.weight", [h, kv], p + "self_attn.k_proj.weight");
            Add(g + "attn_k.bias", [kv], p + "self_attn.k_proj.bias");
            Add(g + "attn_v.weight", [h, kv], p + "self_attn.v_proj.weight");
            Add(g + "attn_v.bias", [kv], p + "self_attn.v_proj.bias");
            Add(g + "attn_output.weight", [h, h], p + "self_attn.o_proj.weight");
            Add(g + "ffn_norm.weight", [h], p + "post_attention_layernorm.weight");
            if (moe == null)
            {
                long f = c.FeedForwardSize;
                Add(g + "ffn_gate.weight", [h, f], p + "mlp.gate_proj.weight");
                Add(g + "ffn_up.weight", [h, f], p + "mlp.up_proj.weight");
                Add(g + "ffn_down.weight", [f, h], p + "mlp.down_proj.weight");
            }
            else
            {
                long e = moe.ExpertCount, fm = moe.ExpertFeedForwardSize, fs = moe.SharedExpertFeedForwardSize;
                string[] Experts(string proj) => Enumerable.Range(0, (int)e).Select(x => $"{p}mlp.experts.{x}.{proj}_proj.weight").ToArray();
                Add(g + "ffn_gate_inp.weight", [h, e], p + "mlp.gate.weight");
                Add(g + "ffn_gate_exps.weight", [h, fm, e], Experts("gate"));
                Add(g + "ffn_up_exps.weight", [h, fm, e], Experts("up"));
                Add(g + "ffn_down_exps.weight", [fm, h, e], Experts("down"));
                Add(g + "ffn_gate_inp_shexp.weight", [h], p + "mlp.shared_expert_gate.weight");
                Add(g + "ffn_gate_shexp.weight", [h, fs], p + "mlp.shared_expert.gate_proj.weight");
                Add(g + "ffn_up_shexp.weight", [h, fs], p + "mlp.shared_expert.up_proj.weight");
                Add(g + "ffn_down_shexp.weight", [fs, h], p + "mlp.shared_expert.down_proj.weight");
            }
        }
        Add("output_norm.weight", [h], "model.norm.weight");
        if (folder.Find("lm_head.weight") != null) Add("output.weight", [h, v], "lm_head.weight");

        foreach (var (info, shard) in folder.Tensors)
            if (!used.Contains(info.Name) && !HfTensorNames.IsIgnorable(info.Name))
                throw new ModelFileException(shard.FilePath, $"tensor {info.Name} does not belong to a {c.LayerCount}-layer {hf.ModelType} model (extra tensor)");
        return plan;
    }
}

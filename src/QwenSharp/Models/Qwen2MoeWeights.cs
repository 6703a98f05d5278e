using QwenSharp.Formats;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>One qwen2moe feed-forward block, bound to the memory-mapped file. Expert e of a stacked 3-D tensor
/// (GGUF ne = {cols, rows, experts}) is the contiguous slice of rows [e·rows, (e+1)·rows): each expert is an ordinary
/// <see cref="WeightMatrix"/> view, so any quant type works and only the chosen experts' bytes are ever read.</summary>
public sealed class Qwen2MoeLayerWeights
{
    public required WeightMatrix Router { get; init; }        // ffn_gate_inp  [E, H] (llama.cpp keeps it F32)
    public required WeightMatrix[] ExpertGate { get; init; }  // ffn_gate_exps [E][Fe, H]
    public required WeightMatrix[] ExpertUp { get; init; }    // ffn_up_exps   [E][Fe, H]
    public required WeightMatrix[] ExpertDown { get; init; }  // ffn_down_exps [E][H, Fe]
    public required float[] SharedGateInput { get; init; }    // ffn_gate_inp_shexp [H]: sigmoid(h·w) scales the shared expert
    public required WeightMatrix SharedGate { get; init; }    // ffn_gate_shexp [Fs, H]
    public required WeightMatrix SharedUp { get; init; }      // ffn_up_shexp   [Fs, H]
    public required WeightMatrix SharedDown { get; init; }    // ffn_down_shexp [H, Fs]
    public required int ExpertsPerToken { get; init; }

    /// <summary>Every matrix of the block (all experts), e.g. to total bytes by type.</summary>
    public IEnumerable<WeightMatrix> Matrices =>
        [Router, .. ExpertGate, .. ExpertUp, .. ExpertDown, SharedGate, SharedUp, SharedDown];

    /// <summary>Weight bytes one decoded token streams: router, its chosen experts (all experts are the same size),
    /// the shared expert.</summary>
    public long BytesReadPerToken =>
        Bytes(Router) + ExpertsPerToken * (Bytes(ExpertGate[0]) + Bytes(ExpertUp[0]) + Bytes(ExpertDown[0]))
        + Bytes(SharedGate) + Bytes(SharedUp) + Bytes(SharedDown);

    private static long Bytes(in WeightMatrix m) => m.RowBytes * m.Rows;

    /// <summary>Binds and checks (presence, shape, type) the MoE tensors of layer <paramref name="layer"/>.</summary>
    public static Qwen2MoeLayerWeights Bind(ITensorSource file, Qwen2Config c, int layer) => Bind(file, c, layer, null);

    /// <summary>Bind, offering every expert slice and shared-expert matrix to <paramref name="repacker"/> (null: none).</summary>
    internal static Qwen2MoeLayerWeights Bind(ITensorSource file, Qwen2Config c, int layer, WeightRepacker? repacker)
    {
        var moe = c.Moe ?? throw new ArgumentException("not an MoE config", nameof(c));
        int h = c.HiddenSize, e = moe.ExpertCount, fe = moe.ExpertFeedForwardSize, fs = moe.SharedFeedForwardSize;
        string p = $"blk.{layer}.";
        var gates = Experts(file, layer, "gate", e, fe, h, repacker);
        var ups = Experts(file, layer, "up", e, fe, h, repacker);
        var downs = Experts(file, layer, "down", e, h, fe, repacker);
        return new Qwen2MoeLayerWeights
        {
            Router = Matrix(file, p + "ffn_gate_inp.weight", e, h, null),
            ExpertGate = gates,
            ExpertUp = ups,
            ExpertDown = downs,
            SharedGateInput = Vector(file, p + "ffn_gate_inp_shexp.weight", h),
            SharedGate = Matrix(file, p + "ffn_gate_shexp.weight", fs, h, repacker),
            SharedUp = Matrix(file, p + "ffn_up_shexp.weight", fs, h, repacker),
            SharedDown = Matrix(file, p + "ffn_down_shexp.weight", h, fs, repacker),
            ExpertsPerToken = moe.ExpertUsedCount,
        };
    }

    private static WeightMatrix Matrix(ITensorSource file, string name, int rows, int cols, WeightRepacker? repacker) =>
        Slices(file, name, [cols, rows], 1, rows, cols, repacker)[0];

    /// <summary>The experts of one projection: slices of the stacked GGUF tensor blk.N.ffn_X_exps.weight, or, from a
    /// HuggingFace folder, each expert's own tensor (<see cref="HfTensorNames.ExpertGguf"/>) bound where it lies, so
    /// nothing is copied. The forward pass quantizes one activation row for all experts, so they must share a type.</summary>
    private static WeightMatrix[] Experts(ITensorSource file, int layer, string projection, int experts, int rows, int cols, WeightRepacker? repacker)
    {
        string stacked = $"blk.{layer}.ffn_{projection}_exps.weight";
        if (file.FindTensor(stacked) != null || file.FindTensor(HfTensorNames.ExpertGguf(layer, 0, projection)) == null)
            return Slices(file, stacked, [cols, rows, experts], experts, rows, cols, repacker);
        var matrices = new WeightMatrix[experts];
        for (int x = 0; x < experts; x++)
        {
            matrices[x] = Matrix(file, HfTensorNames.ExpertGguf(layer, x, projection), rows, cols, repacker);
            if (matrices[x].Type != matrices[0].Type)
                throw new ModelFileException(file.FilePath,
                    $"expert {x} of layer {layer} ({HfTensorNames.ToHf(matrices[x].Name)}) is {GgmlTypeInfo.Name(matrices[x].Type)} but expert 0 is {GgmlTypeInfo.Name(matrices[0].Type)}: the experts of one projection must share a type");
        }
        return matrices;
    }

    private static unsafe WeightMatrix[] Slices(ITensorSource file, string name, long[] dims, int count, int rows, int cols, WeightRepacker? repacker)
    {
        var t = file.GetTensor(name);
        if (!t.Dims.AsSpan().SequenceEqual(dims))
            throw new ModelFileException(file.FilePath,
                $"tensor {name} has shape [{string.Join(", ", t.Dims)}], expected [{string.Join(", ", dims)}] from the metadata");
        if (!GgmlTypeInfo.IsSupported(t.Type))
            throw new ModelFileException(file.FilePath, $"tensor {name} has type {GgmlTypeInfo.Name(t.Type)}, which QwenSharp cannot compute with yet");
        if (cols % GgmlTypeInfo.Block(t.Type).BlockSize != 0)
            throw new ModelFileException(file.FilePath, $"tensor {name}: row length {cols} is not a whole number of {GgmlTypeInfo.Name(t.Type)} blocks");
        byte* data = file.GetTensorData(t);
        long sliceBytes = GgmlTypeInfo.RowBytes(t.Type, cols) * rows;
        var slices = new WeightMatrix[count];
        for (int i = 0; i < count; i++)
        {
            slices[i] = new WeightMatrix(count == 1 ? name : $"{name}[{i}]", t.Type, data + i * sliceBytes, rows, cols);
            if (repacker != null) slices[i] = repacker.Offer(slices[i], t);
        }
        return slices;
    }

    private static float[] Vector(ITensorSource file, string name, int length)
    {
        var t = file.GetTensor(name);
        if (!t.Dims.AsSpan().SequenceEqual([length]))
            throw new ModelFileException(file.FilePath, $"tensor {name} has shape [{string.Join(", ", t.Dims)}], expected [{length}] from the metadata");
        if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ModelFileException(file.FilePath, $"tensor {name} has type {GgmlTypeInfo.Name(t.Type)}; gate vectors must be f32, f16 or bf16");
        var values = new float[length];
        Dequantize.Row(t.Type, file.GetTensorSpan(t), values);
        return values;
    }
}

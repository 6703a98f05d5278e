using QwenSharp.Formats;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;

namespace QwenSharp.Models;

/// <summary>One decoder block's weights. Shapes in HF order [out, in]; vectors are small and copied to fp32.</summary>
public sealed class Qwen2LayerWeights
{
    public required float[] AttnNorm { get; init; }      // [H]
    public required WeightMatrix Wq { get; init; }       // [H, H]
    public required WeightMatrix Wk { get; init; }       // [KvDim, H]
    public required WeightMatrix Wv { get; init; }       // [KvDim, H]
    public required float[] Bq { get; init; }            // [H]
    public required float[] Bk { get; init; }            // [KvDim]
    public required float[] Bv { get; init; }            // [KvDim]
    public required WeightMatrix Wo { get; init; }       // [H, H]
    public required float[] FfnNorm { get; init; }       // [H]
    public required WeightMatrix WGate { get; init; }    // [F, H]
    public required WeightMatrix WUp { get; init; }      // [F, H]
    public required WeightMatrix WDown { get; init; }    // [H, F]
    /// <summary>qwen2moe: the experts that replace the dense SwiGLU (WGate/WUp/WDown are then empty).</summary>
    public Qwen2MoeLayerWeights? Moe { get; init; }
}

/// <summary>All weights of a Qwen2 dense model, bound to the memory-mapped GGUF (matrices are never copied).
/// Every tensor's presence, type and shape is checked against the config here, at load. With repack, the Q4_0, Q8_0,
/// Q4_K and Q6_K matrices that matmuls read (the layers', the experts', and the output, tied to the embedding or not; not an
/// untied embedding, whose rows are only looked up) are rewritten in place into <see cref="WeightLayout.Interleaved8"/> where the source lets them
/// be written (<see cref="WeightRepacker"/>).</summary>
public sealed unsafe class Qwen2Weights
{
    public required WeightMatrix TokenEmbedding { get; init; }  // [V, H]
    public required Qwen2LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }           // [H]
    public required WeightMatrix Output { get; init; }          // [V, H]; the embedding itself when tied
    public required bool TiedOutput { get; init; }

    public static Qwen2Weights Bind(ITensorSource file, Qwen2Config c) => Bind(file, c, repack: false);

    public static Qwen2Weights Bind(ITensorSource file, Qwen2Config c, bool repack)
    {
        int h = c.HiddenSize, kv = c.KvDim, f = c.FeedForwardSize, v = c.VocabSize;
        var layers = new Qwen2LayerWeights[c.LayerCount];
        var repacker = new WeightRepacker(file, repack);
        WeightMatrix Matrix(ITensorSource file, string name, int rows, int cols) =>
            repacker.Offer(Qwen2Weights.Matrix(file, name, rows, cols), file.GetTensor(name));
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new Qwen2LayerWeights
            {
                AttnNorm = Vector(file, p + "attn_norm.weight", h),
                Wq = Matrix(file, p + "attn_q.weight", h, h),
                Wk = Matrix(file, p + "attn_k.weight", kv, h),
                Wv = Matrix(file, p + "attn_v.weight", kv, h),
                Bq = Vector(file, p + "attn_q.bias", h),
                Bk = Vector(file, p + "attn_k.bias", kv),
                Bv = Vector(file, p + "attn_v.bias", kv),
                Wo = Matrix(file, p + "attn_output.weight", h, h),
                FfnNorm = Vector(file, p + "ffn_norm.weight", h),
                WGate = c.Moe != null ? default : Matrix(file, p + "ffn_gate.weight", f, h),
                WUp = c.Moe != null ? default : Matrix(file, p + "ffn_up.weight", f, h),
                WDown = c.Moe != null ? default : Matrix(file, p + "ffn_down.weight", h, f),
                Moe = c.Moe != null ? Qwen2MoeLayerWeights.Bind(file, c, i, repacker) : null,
            };
        }
        // a separate embedding is only looked up, row by row: it keeps the file's layout; a tied one is also the
        // output matmul, the largest of all, so it is offered (lookups then copy their row out, WeightMatrix.CopyRow)
        bool tied = file.FindTensor("output.weight") == null;
        var embedding = tied ? Matrix(file, "token_embd.weight", v, h) : Qwen2Weights.Matrix(file, "token_embd.weight", v, h);
        var weights = new Qwen2Weights
        {
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = Vector(file, "output_norm.weight", h),
            Output = tied ? embedding : Matrix(file, "output.weight", v, h),
            TiedOutput = tied,
        };
        repacker.Run();   // every check has passed: only now rewrite pages
        return weights;
    }

    private static WeightMatrix Matrix(ITensorSource file, string name, int rows, int cols)
    {
        var t = file.GetTensor(name);
        CheckShape(file, t, [cols, rows]);
        if (!GgmlTypeInfo.IsSupported(t.Type))
            throw new ModelFileException(file.FilePath, $"tensor {name} has type {GgmlTypeInfo.Name(t.Type)}, which QwenSharp cannot compute with yet");
        if (cols % GgmlTypeInfo.Block(t.Type).BlockSize != 0)
            throw new ModelFileException(file.FilePath, $"tensor {name}: row length {cols} is not a whole number of {GgmlTypeInfo.Name(t.Type)} blocks");
        return new WeightMatrix(name, t.Type, file.GetTensorData(t), rows, cols);
    }

    private static float[] Vector(ITensorSource file, string name, int length)
    {
        var t = file.GetTensor(name);
        CheckShape(file, t, [length]);
        if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ModelFileException(file.FilePath, $"tensor {name} has type {GgmlTypeInfo.Name(t.Type)}; norm and bias vectors must be f32, f16 or bf16");
        var values = new float[length];
        Dequantize.Row(t.Type, file.GetTensorSpan(t), values);
        return values;
    }

    private static void CheckShape(ITensorSource file, GgufTensorInfo t, long[] expected)
    {
        if (!t.Dims.AsSpan().SequenceEqual(expected))
            throw new ModelFileException(file.FilePath,
                $"tensor {t.Name} has shape [{string.Join(", ", t.Dims)}], expected [{string.Join(", ", expected)}] from the metadata");
    }
}

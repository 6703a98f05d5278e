using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>How <see cref="Qwen2Model.Load(string, ModelLoadOptions?)"/> prepares the weights.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Quantize every F32 / F16 / BF16 weight matrix to this type in memory at load (Q8_0, Q4_0 or Q4_K),
    /// so a HuggingFace BF16 folder runs on the quantized kernels without a conversion step. Null keeps the file's types.</summary>
    public GgmlType? Quantize { get; init; }

    /// <summary>Repack weights at load into the layout their decode kernel reads fastest, where one exists: Q4_0, Q4_K,
    /// (with AVX-VNNI) Q8_0 and (with AVX-512 BW/DQ/VL, GFNI and AVX-VNNI) Q6_K matrices of the decoder layers, the
    /// experts and the output (a tied embedding too) into groups of eight interleaved rows (Tensors/Kernels/Interleaved8.cs,
    /// same size, bit-identical logits; Q4_KInterleaved8.cs, same size, logits equal up to float rounding and still
    /// independent of the batch; Q6_KInterleaved.cs: four rows super-block by super-block, bit-identical logits). A GGUF
    /// file is then mapped copy-on-write, and the repacked pages become private copies of the file's, on 2 MiB pages
    /// where Linux gives them (FileMapping.MakePrivate; the resident size does not grow: each copy replaces the file
    /// pages it copies). F16 matrices keep the file's layout but are made such private copies too, which decoded
    /// faster here (WeightRepacker.CopyPays). False keeps every page the file's own.</summary>
    public bool RepackWeights { get; init; } = true;

    /// <summary>The threads decode will run on (a context's <see cref="ContextOptions.Threads"/>): with
    /// <see cref="RepackWeights"/>, a GGUF file on Linux and two or more, each thread's rows of every layer matrix and of
    /// the output are moved at load into one region per thread, in the order a decode step reads them
    /// (<see cref="DecodeLayout"/>; same size, bit-identical logits). A context with another count computes the same,
    /// a little slower. 0: <see cref="Tensors.ComputePool.DefaultThreadCount"/>; 1: the file's layout.</summary>
    public int DecodeThreads { get; init; }

    /// <summary>The memory to plan against (null: what the machine has available now; tests inject a value).</summary>
    public long? AvailableMemoryBytes { get; init; }

    public static ModelLoadOptions Default { get; } = new();

    /// <summary>"q8_0", "q4_0", "q4_k" (as the CLI spells them) to a type.</summary>
    public static GgmlType ParseQuantizeType(string text) => text.ToLowerInvariant() switch
    {
        "q8_0" => GgmlType.Q8_0,
        "q4_0" => GgmlType.Q4_0,
        "q4_k" => GgmlType.Q4_K,
        _ => throw new QwenSharpException($"--quantize must be q8_0, q4_0 or q4_k, got '{text}'"),
    };
}

using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>MatMulRows kernels for small batches (several sequences decoded together: 2 up to
/// <see cref="MaxBatch"/> activations), which read the weight blocks straight from the row and reuse each for every
/// activation (no per-tile re-layout into scratch, which only pays at prompt-sized batches). Same contract as
/// <see cref="WeightKernels.MatMul"/>: every output bit-identical to the rung's single-row dot. Null where a type
/// or rung has none (MatMulRows then goes on to the tile kernel or the per-pair loop).</summary>
internal static unsafe class SmallBatchKernels
{
    /// <summary>Largest batch MatMulRows gives these kernels (they take eight activations per pass over the rows).
    /// Measured on the 0.5B shapes (one thread, thread CPU time; see README) they beat the tile kernels of main
    /// at every batch from 2 to 16 for Q8_0, Q4_0, Q4_K and Q6_K, by 1.03-1.37× at 12-16, and are about even at 24.</summary>
    public const int MaxBatch = 16;

    private static readonly nint[] BestKernels = BuildBest();

    public static delegate*<byte*, int, int, int, byte*, int, float*, int, void> For(GgmlType type, KernelPath path) => type switch
    {
        GgmlType.Q8_0 => path switch
        {
            // Dot512's fp32 part is Dot256's with AVX2's tail, so the AVX2 form of the kernel matches it bit for bit
            KernelPath.Vector512 => &Block32SmallBatch.MatMul<Q8_0Kernels.Blocks, Q8_0Halves, Avx2Int8Dot>,
            KernelPath.Vector256AvxVnni => &Block32SmallBatch.MatMul<Q8_0Kernels.Blocks, Q8_0Halves, AvxVnniInt8Dot>,
            KernelPath.Vector256Avx2 => &Block32SmallBatch.MatMul<Q8_0Kernels.Blocks, Q8_0Halves, Avx2Int8Dot>,
            _ => null,
        },
        GgmlType.Q4_0 => path switch
        {
            KernelPath.Vector512 => &Block32SmallBatch.MatMul<Q4_0Kernels.Blocks, Q4_0Halves, Avx2Int8Dot>,
            KernelPath.Vector256AvxVnni => &Block32SmallBatch.MatMul<Q4_0Kernels.Blocks, Q4_0Halves, AvxVnniInt8Dot>,
            KernelPath.Vector256Avx2 => &Block32SmallBatch.MatMul<Q4_0Kernels.Blocks, Q4_0Halves, Avx2Int8Dot>,
            _ => null,
        },
        GgmlType.Q4_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMulQ4_K<VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMulQ4_K<Avx2ScaledDotAdd>,
            _ => null,
        },
        GgmlType.Q6_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMulQ6_K<VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMulQ6_K<Avx2ScaledDotAdd>,
            _ => null,
        },
        _ => null,
    };

    /// <summary>The kernel of the rung production uses for this type's dots (<see cref="KernelTable.DotPath"/>).</summary>
    public static delegate*<byte*, int, int, int, byte*, int, float*, int, void> Best(GgmlType type) =>
        (delegate*<byte*, int, int, int, byte*, int, float*, int, void>)BestKernels[(int)type];

    private static nint[] BuildBest()
    {
        var table = new nint[40];
        foreach (var type in Enum.GetValues<GgmlType>())
            if (GgmlTypeInfo.IsSupported(type) && (uint)type < table.Length)
                table[(int)type] = (nint)For(type, KernelTable.DotPath(type));
        return table;
    }
}

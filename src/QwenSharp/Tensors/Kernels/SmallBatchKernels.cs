using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>MatMulRows kernels for small batches (several sequences decoded together: 2 up to
/// <see cref="MaxBatch"/> activations), which read the weight blocks straight from the row and reuse each for every
/// activation (no per-tile re-layout into scratch, which only pays at prompt-sized batches). Same contract as
/// <see cref="WeightKernels.MatMul"/>: every output bit-identical to the rung's single-row dot. Null where a type
/// or rung has none (MatMulRows then goes on to the tile kernel or the per-pair loop).</summary>
internal static unsafe class SmallBatchKernels
{
    /// <summary>Largest batch MatMulRows gives any of these kernels (they take eight activations per pass over the
    /// rows); <see cref="MaxBatchFor"/> is each type's own limit.</summary>
    public const int MaxBatch = 16;

    /// <summary>Largest batch MatMulRows gives the type's kernel: past eight activations the kernel passes over the
    /// rows again, and a K-quant block's unpacking, done again on that pass, then costs more than the tile kernel's
    /// one re-layout per row tile. `bench micro smallbatch` (one thread, thread CPU time, 2816 × 1024 and
    /// 151936 × 1024, tile / small-batch time): at 12 and 16 Q4_K 0.86-0.91, Q5_K 0.76-0.85, Q6_K 0.82-0.97, Q3_K
    /// 0.98 and Q2_K 0.88-1.00 (16), while Q8_0 1.15-1.22 and Q4_0 1.00-1.05; at 8 the K-quants 1.00-1.31 (one
    /// earlier run: Q5_K 0.91 from cache).</summary>
    public static int MaxBatchFor(GgmlType type) =>
        GgmlTypeInfo.Block(type).BlockSize == 256 ? KQuantSmallBatch.MaxChunk : MaxBatch;   // the K-quants' super-blocks

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
        GgmlType.Q2_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMul<Q2_KSmallBatchBlock, VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMul<Q2_KSmallBatchBlock, Avx2ScaledDotAdd>,
            _ => null,
        },
        GgmlType.Q3_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMul<Q3_KSmallBatchBlock, VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMul<Q3_KSmallBatchBlock, Avx2ScaledDotAdd>,
            _ => null,
        },
        GgmlType.Q4_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMul<Q4_KSmallBatchBlock, VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMul<Q4_KSmallBatchBlock, Avx2ScaledDotAdd>,
            _ => null,
        },
        GgmlType.Q5_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMul<Q5_KSmallBatchBlock, VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMul<Q5_KSmallBatchBlock, Avx2ScaledDotAdd>,
            _ => null,
        },
        GgmlType.Q6_K => path switch
        {
            KernelPath.Vector256AvxVnni => &KQuantSmallBatch.MatMul<Q6_KSmallBatchBlock, VnniScaledDotAdd>,
            KernelPath.Vector256Avx2 => &KQuantSmallBatch.MatMul<Q6_KSmallBatchBlock, Avx2ScaledDotAdd>,
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

using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors;

/// <summary>Dot products of weight rows with activations quantized the way llama.cpp quantizes them for that
/// weight type (its vec_dot_type), which is what keeps our logits within cosine 0.999 of llama.cpp's.</summary>
public static unsafe class VecDot
{
    /// <summary>How activations are stored for a weight type: F32 -> F32, F16 -> F16, BF16 -> BF16,
    /// Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1, K-quants -> Q8_K.</summary>
    public static GgmlType ActivationType(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => GgmlType.F32,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => GgmlType.Q8_K,
        _ => throw Unsupported(weightType),
    };

    /// <summary>Bytes of one quantized activation row of n elements for this weight type.</summary>
    public static long ActivationRowBytes(GgmlType weightType, int n)
    {
        TensorArguments.RowBytes(weightType, n);   // n must also fit the weight's blocks
        return GgmlTypeInfo.RowBytes(ActivationType(weightType), n);
    }

    /// <summary>Quantizes x (n = x.Length elements) into dst, which needs ActivationRowBytes(weightType, n) bytes.</summary>
    public static void QuantizeActivation(GgmlType weightType, ReadOnlySpan<float> x, Span<byte> dst) =>
        QuantizeActivation(weightType, x, dst, KernelPaths.Best);

    /// <summary>The activation blocks covering x[start, end) (start and end on block edges) quantized for weightType
    /// into their place in the row at dst: each block depends only on its own elements, so this is that part of the
    /// whole row's <see cref="QuantizeActivation(GgmlType, ReadOnlySpan{float}, Span{byte})"/>, bit for bit.</summary>
    internal static void QuantizeActivationBlocks(GgmlType weightType, float* x, int start, int end, byte* dst)
    {
        var type = ActivationType(weightType);
        QuantizeActivation(weightType, new ReadOnlySpan<float>(x + start, end - start),
            new Span<byte>(dst + GgmlTypeInfo.RowBytes(type, start), (int)GgmlTypeInfo.RowBytes(type, end - start)));
    }

    internal static void QuantizeActivation(GgmlType weightType, ReadOnlySpan<float> x, Span<byte> dst, KernelPath path)
    {
        long bytes = ActivationRowBytes(weightType, x.Length);
        if (dst.Length < bytes)
            throw new QwenSharpException($"activation row of {x.Length} elements for {GgmlTypeInfo.Name(weightType)} weights needs {bytes} bytes, got {dst.Length}");
        var quantize = path == KernelPaths.Best ? KernelTable.BestActivation(weightType) : KernelTable.Activation(weightType, path);
        fixed (float* s = x)
        fixed (byte* d = dst)
            quantize(s, d, x.Length);
    }

    /// <summary>dot(weight row, activation row) over n elements; the activation row came from QuantizeActivation
    /// with the same weight type.</summary>
    public static float Dot(GgmlType weightType, byte* weightRow, byte* activation, int n)
    {
        RequireRow(weightType, n);
        return KernelTable.Best(weightType).Dot(weightRow, activation, n);
    }

    internal static float Dot(GgmlType weightType, byte* weightRow, byte* activation, int n, KernelPath path)
    {
        RequireRow(weightType, n);
        return KernelTable.For(weightType, path).Dot(weightRow, activation, n);
    }

    /// <summary>output[b·outputStride + r] = dot(weight row r, activation b) for r in [rowStart, rowEnd), b in
    /// [0, batch). Weight rows are contiguous, GgmlTypeInfo.RowBytes(weightType, n) bytes each; activations are
    /// contiguous, ActivationRowBytes(weightType, n) bytes each. Batches 2..16 (several sequences decoded together;
    /// 2..8 for the K-quants, <see cref="Kernels.SmallBatchKernels.MaxBatchFor"/>) go to a type's small-batch kernel
    /// where it has one (each weight block read from the row once and used for up
    /// to eight activations); larger batches, and types without one, to the tile kernel, which unpacks four weight
    /// rows once and runs every activation of the batch over them (multi-row × multi-activation register blocks).
    /// Each output is bit-identical to <see cref="Dot(GgmlType, byte*, byte*, int)"/> of that pair.
    /// Safe to call from several threads at once on disjoint row ranges.</summary>
    public static void MatMulRows(GgmlType weightType, byte* weights, int n, int rowStart, int rowEnd,
                                  byte* activations, int batch, float* output, int outputStride) =>
        MatMulRows(weightType, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, KernelTable.DotPath(weightType));

    /// <summary><see cref="MatMulRows(GgmlType, byte*, int, int, int, byte*, int, float*, int)"/> for weights stored in
    /// <paramref name="layout"/> (<see cref="WeightLayout.Interleaved8"/>: Q4_0 or Q8_0 repacked at load, see
    /// <see cref="Interleaved8{TBlock}"/>, the same outputs, bit for bit, as the standard layout gives; or Q4_K, see
    /// <see cref="Q4_KInterleaved8"/>, whose outputs are its scalar twin's, equal to the standard layout's up to float
    /// rounding).</summary>
    public static void MatMulRows(GgmlType weightType, WeightLayout layout, byte* weights, int n, int rowStart, int rowEnd,
                                  byte* activations, int batch, float* output, int outputStride) =>
        MatMulRows(weightType, layout, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, KernelTable.DotPath(weightType));

    internal static void MatMulRows(GgmlType weightType, WeightLayout layout, byte* weights, int n, int rowStart, int rowEnd,
                                    byte* activations, int batch, float* output, int outputStride, KernelPath path)
    {
        if (layout == WeightLayout.Rows)
        {
            MatMulRows(weightType, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
            return;
        }
        if (layout != WeightLayout.Interleaved8 || !Interleaved8.HasLayout(weightType) || n <= 0 || n % 256 != 0)
            throw new QwenSharpException($"no {layout} layout for {GgmlTypeInfo.Name(weightType)} rows of {n}");
        if (rowStart < 0 || rowEnd < rowStart || batch < 0)
            throw new QwenSharpException($"bad matmul range: rows [{rowStart}, {rowEnd}), batch {batch}");
        Interleaved8.MatMulRows(weightType, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
    }

    internal static void MatMulRows(GgmlType weightType, byte* weights, int n, int rowStart, int rowEnd,
                                    byte* activations, int batch, float* output, int outputStride, KernelPath path)
    {
        RequireRow(weightType, n);
        if (rowStart < 0 || rowEnd < rowStart || batch < 0)
            throw new QwenSharpException($"bad matmul range: rows [{rowStart}, {rowEnd}), batch {batch}");
        var kernels = path == KernelTable.DotPath(weightType) ? KernelTable.Best(weightType) : KernelTable.For(weightType, path);
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n);
        long activationBytes = GgmlTypeInfo.RowBytes(ActivationType(weightType), n);
        if (batch >= 2 && batch <= SmallBatchKernels.MaxBatchFor(weightType) && !TilesOnly)
        {
            var small = path == KernelTable.DotPath(weightType) ? SmallBatchKernels.Best(weightType) : SmallBatchKernels.For(weightType, path);
            if (small != null)
            {
                small(weights, n, rowStart, rowEnd, activations, batch, output, outputStride);
                return;
            }
        }
        if (kernels.MatMul != null && batch >= TileMinBatch)
        {
            kernels.MatMul(weights, n, rowStart, rowEnd, activations, batch, output, outputStride);
            return;
        }
        if (kernels.MatVec != null && batch == 1 && !SingleRowDecode)
        {
            kernels.MatVec(weights, n, rowStart, rowEnd, activations, output);
            return;
        }
        if (kernels.ExpandActivation != null)
        {
            MatMulExpanded(kernels, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, rowBytes, activationBytes);
            return;
        }
        var dot = kernels.Dot;
        if (batch == 1)
        {
            // decode: one stream through the weight rows, prefetched ahead as in Block32Rows
            int ahead = Block32Rows.PrefetchAhead;
            for (int r = rowStart; r < rowEnd; r++)
            {
                byte* row = weights + r * rowBytes;
                if (ahead > 0)
                    for (long p = 0; p < rowBytes; p += 64) Prefetch(row + ahead + p);
                output[r] = dot(row, activations, n);
            }
            return;
        }
        for (int tileStart = rowStart; tileStart < rowEnd; tileStart += RowTile)
        {
            int tileEnd = Math.Min(tileStart + RowTile, rowEnd);
            for (int b = 0; b < batch; b++)
            {
                byte* activation = activations + b * activationBytes;
                float* o = output + (long)b * outputStride;
                for (int r = tileStart; r < tileEnd; r++) o[r] = dot(weights + r * rowBytes, activation, n);
            }
        }
    }

    private const int RowTile = 4;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(byte* p)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported) Block32Rows.PrefetchLine(p);
    }

    /// <summary>Benchmarks only: batch 1 through the single-row dot instead of a type's multi-row MatVec kernel.</summary>
    internal static bool SingleRowDecode;

    /// <summary>Benchmarks only: small batches through the tile kernels instead of the small-batch kernels.</summary>
    internal static bool TilesOnly;

    /// <summary>From this batch on, a type's tile kernel (weights unpacked once per tile, reused across the batch)
    /// beats the per-pair loop (measured: already at batch 2); decode (batch 1) keeps the single-row dot.</summary>
    private const int TileMinBatch = 2;
    private const int ExpandedChunk = 8;

    /// <summary>Per-thread scratch for expanded activations: grown once, then reused (no per-call allocation).</summary>
    [ThreadStatic] private static float[]? expandedActivations;

    /// <summary>MatMulRows for types that read activations as floats: up to eight activations are converted at a
    /// time, then every row tile passes over them.</summary>
    private static void MatMulExpanded(in WeightKernels kernels, byte* weights, int n, int rowStart, int rowEnd,
                                       byte* activations, int batch, float* output, int outputStride, long rowBytes, long activationBytes)
    {
        int chunk = Math.Min(ExpandedChunk, batch);
        if (chunk == 0 || rowEnd == rowStart) return;
        int ahead = Block32Rows.PrefetchAhead;
        var buffer = expandedActivations;
        if (buffer == null || buffer.Length < (long)chunk * n) expandedActivations = buffer = new float[(long)chunk * n];
        fixed (float* expanded = buffer)
        {
            for (int first = 0; first < batch; first += chunk)
            {
                int count = Math.Min(chunk, batch - first);
                for (int k = 0; k < count; k++) kernels.ExpandActivation(activations + (first + k) * activationBytes, expanded + (long)k * n, n);
                for (int tileStart = rowStart; tileStart < rowEnd; tileStart += RowTile)
                {
                    int tileEnd = Math.Min(tileStart + RowTile, rowEnd);
                    for (int k = 0; k < count; k++)
                    {
                        byte* activation = (byte*)(expanded + (long)k * n);
                        float* o = output + (long)(first + k) * outputStride;
                        for (int r = tileStart; r < tileEnd; r++)
                        {
                            byte* row = weights + r * rowBytes;
                            if (batch == 1 && ahead > 0)   // decode: prefetch as in MatMulRows' single-row loop
                                for (long p = 0; p < rowBytes; p += 64) Prefetch(row + ahead + p);
                            o[r] = kernels.DotExpanded(row, activation, n);
                        }
                    }
                }
            }
        }
    }

    private static void RequireRow(GgmlType weightType, int n)
    {
        TensorArguments.RequireSupported(weightType);
        TensorArguments.RowBytes(weightType, n);
    }

    private static QwenSharpException Unsupported(GgmlType type) =>
        new(GgmlTypeInfo.IsKnown(type) ? $"no dot product for tensor type {GgmlTypeInfo.Name(type)}" : $"unknown tensor type id {(uint)type}");
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A 16-bit float type's half of the Vector512 tile kernel: how a row (weights, or an activation of the
/// same type) becomes the fp32 vectors its single-row Dot512 multiplies, and the scalar tail that Dot512 adds.</summary>
internal unsafe interface IFloatTile
{
    /// <summary>Writes, for each 32-element step s of the row, the 16 floats Dot512 feeds acc0 at dst + 32s and
    /// the 16 it feeds acc1 at dst + 32s + 16; then, if <see cref="SixteenStep"/>, the next 16 floats.</summary>
    static abstract void Expand(byte* src, float* dst, int n);

    /// <summary>Whether Dot512 runs one 16-element step into acc0 after its 32-element steps.</summary>
    static abstract bool SixteenStep { get; }

    /// <summary>Dot512's scalar tail from element start, read from the original rows.</summary>
    static abstract float Tail(byte* w, byte* a, int start, int n);

    /// <summary>The single-row dot (for leftover rows).</summary>
    static abstract float Dot(byte* w, byte* a, int n);
}

/// <summary>MatMulRows for F16/BF16 weights on the Vector512 rung: a tile of four weight rows is converted to fp32
/// once, a chunk of activations too, and a 4 × 2 register block of FMAs runs over them (each weight vector load
/// serves two activations, each activation load four rows; an odd last activation gets a 4 × 1 block). Per pair the two accumulators, the order of the
/// fused steps, the final reduction and the scalar tail are those of the single-row Dot512, on the same fp32
/// values (conversions are exact), so results are bit-identical to it.</summary>
internal static unsafe class FloatTile
{
    private const int Rows = 4;

    /// <summary>Activations converted at a time: 64 rows of 1024 floats are 256 KB (L2).</summary>
    private const int Chunk = 64;

    [ThreadStatic] private static float[]? scratch;

    public static void MatMul<TKernel>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                       float* output, int outputStride) where TKernel : IFloatTile
    {
        long rowBytes = 2L * n;
        int chunk = Math.Min(Chunk, batch);
        int fullEnd = rowStart + (rowEnd - rowStart) / Rows * Rows;
        if (chunk == 0 || rowEnd == rowStart) return;
        long padded = (n + 15) & ~15;
        var buffer = scratch;
        if (buffer == null || buffer.Length < (Rows + chunk) * padded + 16) scratch = buffer = new float[(Rows + chunk) * padded + 16];
        fixed (float* raw = buffer)
        {
            float* tileRows = (float*)(((nint)raw + 63) & ~(nint)63);
            float* expanded = tileRows + Rows * padded;
            for (int first = 0; first < batch; first += chunk)
            {
                int count = Math.Min(chunk, batch - first);
                for (int k = 0; k < count; k++) TKernel.Expand(activations + (first + k) * rowBytes, expanded + k * padded, n);
                for (int tile = rowStart; tile < fullEnd; tile += Rows)
                {
                    for (int r = 0; r < Rows; r++) TKernel.Expand(weights + (tile + r) * rowBytes, tileRows + r * padded, n);
                    int k = 0;
                    for (; k + 2 <= count; k += 2)
                        FourByTwo<TKernel>(weights + tile * rowBytes, rowBytes, tileRows, padded, activations + (first + k) * rowBytes,
                                           expanded + k * padded, n, output + (long)(first + k) * outputStride + tile, outputStride);
                    if (k < count)
                        FourByOne<TKernel>(weights + tile * rowBytes, rowBytes, tileRows, padded, activations + (first + k) * rowBytes,
                                           expanded + k * padded, n, output + (long)(first + k) * outputStride + tile);
                }
            }
        }
        for (int b = 0; b < batch; b++)
            for (int r = fullEnd; r < rowEnd; r++)
                output[(long)b * outputStride + r] = TKernel.Dot(weights + r * rowBytes, activations + b * rowBytes, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(float* w, float* a, Vector512<float> acc) =>
        Avx512F.FusedMultiplyAdd(Vector512.Load(w), Vector512.Load(a), acc);

    /// <summary>Four rows × two activations; outputs at o[r] and o[outputStride + r].</summary>
    private static void FourByTwo<TKernel>(byte* w, long rowBytes, float* wf, long padded, byte* a, float* af, int n, float* o, int outputStride)
        where TKernel : IFloatTile
    {
        Vector512<float> x00 = default, x01 = default, x10 = default, x11 = default, x20 = default, x21 = default, x30 = default, x31 = default;
        Vector512<float> y00 = default, y01 = default, y10 = default, y11 = default, y20 = default, y21 = default, y30 = default, y31 = default;
        float* w0 = wf, w1 = wf + padded, w2 = wf + 2 * padded, w3 = wf + 3 * padded;
        float* a0 = af, a1 = af + padded;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            x00 = Fma(w0 + i, a0 + i, x00); x01 = Fma(w0 + i + 16, a0 + i + 16, x01);
            y00 = Fma(w0 + i, a1 + i, y00); y01 = Fma(w0 + i + 16, a1 + i + 16, y01);
            x10 = Fma(w1 + i, a0 + i, x10); x11 = Fma(w1 + i + 16, a0 + i + 16, x11);
            y10 = Fma(w1 + i, a1 + i, y10); y11 = Fma(w1 + i + 16, a1 + i + 16, y11);
            x20 = Fma(w2 + i, a0 + i, x20); x21 = Fma(w2 + i + 16, a0 + i + 16, x21);
            y20 = Fma(w2 + i, a1 + i, y20); y21 = Fma(w2 + i + 16, a1 + i + 16, y21);
            x30 = Fma(w3 + i, a0 + i, x30); x31 = Fma(w3 + i + 16, a0 + i + 16, x31);
            y30 = Fma(w3 + i, a1 + i, y30); y31 = Fma(w3 + i + 16, a1 + i + 16, y31);
        }
        if (TKernel.SixteenStep && i + 16 <= n)
        {
            x00 = Fma(w0 + i, a0 + i, x00); y00 = Fma(w0 + i, a1 + i, y00);
            x10 = Fma(w1 + i, a0 + i, x10); y10 = Fma(w1 + i, a1 + i, y10);
            x20 = Fma(w2 + i, a0 + i, x20); y20 = Fma(w2 + i, a1 + i, y20);
            x30 = Fma(w3 + i, a0 + i, x30); y30 = Fma(w3 + i, a1 + i, y30);
            i += 16;
        }
        // Every vector is reduced before the first tail call: see TailOrZero.
        float s00 = Simd512.Sum(x00 + x01), s10 = Simd512.Sum(x10 + x11), s20 = Simd512.Sum(x20 + x21), s30 = Simd512.Sum(x30 + x31);
        float s01 = Simd512.Sum(y00 + y01), s11 = Simd512.Sum(y10 + y11), s21 = Simd512.Sum(y20 + y21), s31 = Simd512.Sum(y30 + y31);
        byte* a1b = a + 2L * n;
        o[0] = s00 + TailOrZero<TKernel>(w, a, i, n);
        o[1] = s10 + TailOrZero<TKernel>(w + rowBytes, a, i, n);
        o[2] = s20 + TailOrZero<TKernel>(w + 2 * rowBytes, a, i, n);
        o[3] = s30 + TailOrZero<TKernel>(w + 3 * rowBytes, a, i, n);
        o[outputStride] = s01 + TailOrZero<TKernel>(w, a1b, i, n);
        o[outputStride + 1] = s11 + TailOrZero<TKernel>(w + rowBytes, a1b, i, n);
        o[outputStride + 2] = s21 + TailOrZero<TKernel>(w + 2 * rowBytes, a1b, i, n);
        o[outputStride + 3] = s31 + TailOrZero<TKernel>(w + 3 * rowBytes, a1b, i, n);
    }

    /// <summary>The scalar tail from element i, or +0 (what an empty tail loop returns) without a call when i = n.
    /// The tail is a call (not inlined), and x64 has no callee-saved vector registers: an accumulator still live at
    /// a call is spilled by the JIT at every definition, i.e. a store and a reload per fused step inside the loop
    /// (measured: 7–14 of the 16 accumulators, about half the speed). Hence the kernels reduce all accumulators to
    /// scalars first and call only afterwards, and skip the call when there is no tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailOrZero<TKernel>(byte* w, byte* a, int i, int n) where TKernel : IFloatTile =>
        i < n ? TKernel.Tail(w, a, i, n) : 0f;

    /// <summary>Four rows × the odd activation left over from the pairs; outputs at o[r].</summary>
    private static void FourByOne<TKernel>(byte* w, long rowBytes, float* wf, long padded, byte* a, float* af, int n, float* o)
        where TKernel : IFloatTile
    {
        Vector512<float> x00 = default, x01 = default, x10 = default, x11 = default, x20 = default, x21 = default, x30 = default, x31 = default;
        float* w0 = wf, w1 = wf + padded, w2 = wf + 2 * padded, w3 = wf + 3 * padded;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            x00 = Fma(w0 + i, af + i, x00); x01 = Fma(w0 + i + 16, af + i + 16, x01);
            x10 = Fma(w1 + i, af + i, x10); x11 = Fma(w1 + i + 16, af + i + 16, x11);
            x20 = Fma(w2 + i, af + i, x20); x21 = Fma(w2 + i + 16, af + i + 16, x21);
            x30 = Fma(w3 + i, af + i, x30); x31 = Fma(w3 + i + 16, af + i + 16, x31);
        }
        if (TKernel.SixteenStep && i + 16 <= n)
        {
            x00 = Fma(w0 + i, af + i, x00);
            x10 = Fma(w1 + i, af + i, x10);
            x20 = Fma(w2 + i, af + i, x20);
            x30 = Fma(w3 + i, af + i, x30);
            i += 16;
        }
        float s0 = Simd512.Sum(x00 + x01), s1 = Simd512.Sum(x10 + x11), s2 = Simd512.Sum(x20 + x21), s3 = Simd512.Sum(x30 + x31);
        o[0] = s0 + TailOrZero<TKernel>(w, a, i, n);
        o[1] = s1 + TailOrZero<TKernel>(w + rowBytes, a, i, n);
        o[2] = s2 + TailOrZero<TKernel>(w + 2 * rowBytes, a, i, n);
        o[3] = s3 + TailOrZero<TKernel>(w + 3 * rowBytes, a, i, n);
    }
}

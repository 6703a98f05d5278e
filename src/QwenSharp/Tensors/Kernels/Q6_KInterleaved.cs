using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q6_K weights repacked at load (<see cref="WeightLayout.Interleaved8"/>) so that the decode kernel reads
/// one stream: in each group of four rows, super-block b of the four rows is one 840-byte record at b · 840, row r's
/// 210-byte super-block (unchanged, as in the file) at record + r · 210. The batch-1 kernel
/// (<see cref="Q6_KRows512.MatVecInterleaved"/>) is Q6_KRows512's four-row pass reading the same bytes in the same
/// order, so every output is bit-identical to the file layout's; it only no longer walks four streams a row apart.
/// Measured on the AMD EPYC (2026-11-27, one thread, 1 GiB of 1024-wide rows from DRAM, alternating with a streaming
/// sum over the same buffer, ten rounds): 84-89 % of that sum in the file's layout and 90-96 % block-major by four in
/// nine rounds (78 and 82 % in the tenth, across a drop in bandwidth); 71-88 % by eight rows in one pass (five
/// rounds). In the 0.5B models, tg128 in one process, the repacked Q6_K against the same file with Q6_K left in its
/// layout, five alternating rounds per run, per-run median ratios over six runs (mostly with the memory bus busy): q4_0 1.03-1.09 and q4_k_m 1.04-1.13 (their output matrix is Q6_K), q6_k
/// 1.03-1.16, q8_0 (no Q6_K: a control) 0.99-1.06. On the Intel VM before, the same layout had measured 0.998 in the
/// model (Tensors/README.md).
///
/// The layout's unit towards <see cref="Interleaved8"/> is eight rows (two groups of four), so rows stay whole
/// eights, like the other interleaved types; rows are whole 256-element super-blocks by the type. Batches other than
/// one, and machines without the 512-bit kernel, un-interleave the rows they need a pass at a time
/// (<see cref="Interleaved8.Uninterleaved"/>) into the standard kernels.</summary>
internal static unsafe class Q6_KInterleaved
{
    private const int Block = 210, Rows = 4, Unit = 8;

    /// <summary>Whole eights of rows, on a machine whose Q6_K decode runs <see cref="Q6_KRows512"/> (the only kernel
    /// that reads this layout directly).</summary>
    public static bool Eligible(int rows, int n) =>
        rows > 0 && rows % Unit == 0 && n > 0 && n % 256 == 0 && Q6_KRows512.IsSupported
        && KernelTable.DotPath(GgmlType.Q6_K) == KernelPath.Vector256AvxVnni;

    /// <summary>Rewrites a rows × n matrix in place into the layout (same size).</summary>
    public static void Interleave(byte* data, int rows, int n)
    {
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block, groupBytes = Rows * rowBytes;
        var copy = new byte[groupBytes];
        fixed (byte* original = copy)
            for (int g = 0; g < rows / Rows; g++)
            {
                byte* group = data + g * groupBytes;
                Buffer.MemoryCopy(group, original, groupBytes, groupBytes);
                for (int b = 0; b < blocks; b++)
                    for (int r = 0; r < Rows; r++)
                        Buffer.MemoryCopy(original + r * rowBytes + b * Block, group + (b * Rows + r) * (long)Block, Block, Block);
            }
    }

    /// <summary><paramref name="units"/> units of eight rows at src (the layout) back to the file's rows at dst.</summary>
    internal static void Deinterleave(byte* src, byte* dst, int units, int n)
    {
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block;
        for (int g = 0; g < units * (Unit / Rows); g++, src += Rows * rowBytes, dst += Rows * rowBytes)
            for (int b = 0; b < blocks; b++)
                for (int r = 0; r < Rows; r++)
                    Buffer.MemoryCopy(src + (b * Rows + r) * (long)Block, dst + r * rowBytes + b * Block, Block, Block);
    }

    /// <summary>One row back in the file's layout (an embedding lookup of a tied Q6_K embedding).</summary>
    internal static void CopyRow(byte* data, int row, int n, byte* dst)
    {
        int blocks = n / 256;
        byte* group = data + (long)(row / Rows) * Rows * blocks * Block;
        for (int b = 0; b < blocks; b++)
            Buffer.MemoryCopy(group + (b * Rows + row % Rows) * (long)Block, dst + b * Block, Block, Block);
    }

    public static void MatMulRows(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                  float* output, int outputStride, KernelPath path)
    {
        if (rowEnd <= rowStart || batch == 0) return;
        if (batch == 1 && path == KernelPath.Vector256AvxVnni && Q6_KRows512.IsSupported)
        {
            Q6_KRows512.MatVecInterleaved(weights, n, rowStart, rowEnd, activations, output);
            return;
        }
        long unitBytes = Unit * (long)(n / 256) * Block;
        Interleaved8.Uninterleaved(GgmlType.Q6_K, &Deinterleave, unitBytes, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for Q6_K weights with 512-bit vectors, wired on the AVX-VNNI rung and taken
/// where AVX-512 BW + DQ + VL and GFNI are there (else <see cref="Q6_KRows{TScaled}"/>, a JIT-time constant choice). Every
/// output is bit-identical to <see cref="Q6_KKernels.Dot256"/> of that row: per super-block the same eight int32
/// lanes (lane i = Σ over the eight groups of sc·(elements 4i..4i+3) less 32·(bsum·sc of sub-blocks 2i, 2i+1), exact
/// integers in any order), then Dot256's fp32 steps. The zmm vectors hold two groups of one half side by side
/// ([g0 | g1] and [g2 | g3]: exactly the 64 ql bytes of that half and 64 contiguous activations), so the int32
/// lanes of a zmm are Dot256's lanes of two groups; the two 256-bit halves are added at the end. Per 210-byte
/// super-block and row:
/// <list type="bullet">
/// <item>6-bit values: the half's 32 qh bytes are broadcast to both 256-bit halves (a pure load); one
/// vgf2p8affineqb per zmm moves bits 2g, 2g+1 to bits 4, 5 and clears the rest, with a different bit matrix for
/// each 64-bit lane (g0's in the low half, g1's in the high); one vpternlogd then makes (ql &amp; 0x0F) | that.
/// The high nibbles take one 16-bit shift first. Five ALU instructions per 128 elements (Q6_KRows: 12).</item>
/// <item>Scales: one vpmovsxbw of the 16 scale bytes, then one vpermw per zmm puts s_k into the 128-bit lane of
/// sub-block k (four per super-block, no per-group shuffle).</item>
/// <item>Products: vpmaddubsw (q ≤ 63, |q_a| ≤ 127: no saturation), vpmaddwd by the scales, vpaddd (.NET exposes
/// no 512-bit vpdpwssd); the -32 offset as one 256-bit vpdpwssd of the activation block sums with scales ×(-32),
/// as in Q6_KRows.</item>
/// <item>d: exact and branchless (<see cref="Fp16.ToSingleFinite"/>: Q6_K's d is usually an fp16 subnormal, and
/// an fp32 subnormal multiply input costs a microcode assist); rows with an infinity/NaN d go to Dot256.</item>
/// </list>
/// Four rows per pass (the four activation zmm stay in registers), prefetching like Q6_KRows.</summary>
internal static unsafe class Q6_KRows512
{
    private const int Block = 210;

    /// <summary>Whether this machine runs the zmm kernel (all JIT-time constants).</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported && Gfni.V512.IsSupported && AvxVnni.IsSupported;

    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (!IsSupported)
        {
            Q6_KRows<VnniScaledDotAdd>.MatVec(weights, n, rowStart, rowEnd, activation, output);
            return;
        }
        if (rowEnd <= rowStart) return;
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block;
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
            FourRows(weights + r * rowBytes, rowBytes, Block, blocks, activation, output + r, n);
        for (; r < rowEnd; r++)
            output[r] = OneRow(weights + r * rowBytes, blocks, activation, n);
    }

    /// <summary>vgf2p8affineqb matrix (one per 64-bit lane) sending bits 2g, 2g + 1 of each byte to bits 4, 5 and
    /// clearing the others: output bit i takes the parity of the input ANDed with matrix byte 7 - i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong TopBits(int g) => ((1UL << (2 * g)) << 24) | ((1UL << (2 * g + 1)) << 16);

    /// <summary>[TopBits(g) ×4 | TopBits(g + 1) ×4], from eight scalars: the JIT folds that into one constant (built
    /// from two Vector256 it went through the stack on every use).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> TopBitsPair(int g) => Vector512.Create(
        TopBits(g), TopBits(g), TopBits(g), TopBits(g), TopBits(g + 1), TopBits(g + 1), TopBits(g + 1), TopBits(g + 1)).AsByte();

    /// <summary>vpermw index putting int16 scale k + w/8 in word w: 128-bit lane j gets scale k + j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> ScaleIndex(int k)
    {
        const ulong Words = 0x0001_0001_0001_0001;
        ulong l0 = (ulong)k * Words, l1 = (ulong)(k + 1) * Words, l2 = (ulong)(k + 2) * Words, l3 = (ulong)(k + 3) * Words;
        return Vector512.Create(l0, l0, l1, l1, l2, l2, l3, l3).AsInt16();
    }

    /// <summary>The 64 six-bit values [g0 | g1] (or [g2 | g3] with high) of one half: ql its 64 ql bytes, qh its 32
    /// qh bytes in both halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Values(Vector512<byte> nibbles, Vector512<byte> qh, Vector512<byte> matrix) =>
        // (nibbles & 0x0F) | top: A & C | B = 0xF0 & 0xAA | 0xCC
        Avx512F.TernaryLogic(nibbles, Gfni.V512.GaloisFieldAffineTransform(qh, matrix, 0), Vector512.Create((byte)0x0F), 0xEC);

    /// <summary>Dot256's eight int32 lanes of one super-block (y0..y3: the 256 activations, bsums their block sums).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sums(byte* w, Vector512<sbyte> y0, Vector512<sbyte> y1, Vector512<sbyte> y2, Vector512<sbyte> y3, Vector256<short> bsums)
    {
        var scales = Avx2.ConvertToVector256Int16((sbyte*)(w + 192));
        var table = scales.ToVector512Unsafe();   // vpermw reads words 0..15 only
        // vbroadcasti32x8 (DQ), not Avx512F's vbroadcasti64x4: on .NET 10.0.12 the JIT compresses the latter's
        // displacement with the wrong scale (w + 128 read w + 256); Vector512.Create(v, v) went through the stack
        var qh0 = Avx512DQ.BroadcastVector256ToVector512((int*)(w + 128)).AsByte();
        var qh1 = Avx512DQ.BroadcastVector256ToVector512((int*)(w + 160)).AsByte();
        var ql0 = Vector512.Load(w);
        var ql1 = Vector512.Load(w + 64);
        var q0 = Values(ql0, qh0, TopBitsPair(0));
        var q1 = Values((ql0.AsUInt16() >>> 4).AsByte(), qh0, TopBitsPair(2));
        var q2 = Values(ql1, qh1, TopBitsPair(0));
        var q3 = Values((ql1.AsUInt16() >>> 4).AsByte(), qh1, TopBitsPair(2));
        var d0 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q0, y0), Avx512BW.PermuteVar32x16(table, ScaleIndex(0)));
        var d1 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q1, y1), Avx512BW.PermuteVar32x16(table, ScaleIndex(4)));
        var d2 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q2, y2), Avx512BW.PermuteVar32x16(table, ScaleIndex(8)));
        var d3 = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q3, y3), Avx512BW.PermuteVar32x16(table, ScaleIndex(12)));
        var sum = (d0 + d1) + (d2 + d3);
        var lanes = sum.GetLower() + sum.GetUpper();
        return AvxVnni.MultiplyWideningAndAdd(lanes, bsums, Avx2.MultiplyLow(scales, Vector256.Create((short)-32)));
    }

    /// <summary>One row's super-block added into acc as Dot256 does: acc + float(sumi)·(d_a·d_w); guard collects bit
    /// 31 set where d_w is an infinity or NaN (exponent bits all ones: + 1 carries out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(byte* w, Vector512<sbyte> y0, Vector512<sbyte> y1, Vector512<sbyte> y2, Vector512<sbyte> y3,
        Vector256<short> bsums, float da, Vector256<float> acc, ref int guard)
    {
        float dw = Q6_KRowSteps.Scale(w, ref guard);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(w, y0, y1, y2, y3, bsums)), Vector256.Create(da * dw), acc);
    }

    /// <summary>Four rows, <paramref name="rowOffset"/> bytes apart, whose super-blocks follow each other
    /// <paramref name="blockStride"/> bytes apart: the file's rows (rowBytes, 210) or an interleaved group (210, 840).</summary>
    private static void FourRows(byte* w, long rowOffset, long blockStride, int blocks, byte* a, float* o, int n)
    {
        bool interleaved = blockStride != Block;
        byte* w0 = w, w1 = w + rowOffset, w2 = w + 2 * rowOffset, w3 = w + 3 * rowOffset;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int g0 = 0, g1 = 0, g2 = 0, g3 = 0;
        // one stream when interleaved; four streams a row apart otherwise, each prefetched at least a tile ahead
        long ahead = interleaved ? Block32Rows.PrefetchAhead : Block32Rows.TileAhead(rowOffset);
        byte* ab = a;
        for (int b = 0; b < blocks; b++, ab += BlockBytes, w0 += blockStride, w1 += blockStride, w2 += blockStride, w3 += blockStride)
        {
            Q6_KRowSteps.Prefetch(w0, ahead); Q6_KRowSteps.Prefetch(w1, ahead); Q6_KRowSteps.Prefetch(w2, ahead); Q6_KRowSteps.Prefetch(w3, ahead);
            float da = *(float*)ab;
            sbyte* y = (sbyte*)(ab + QuantsOffset);
            var y0 = Vector512.Load(y);
            var y1 = Vector512.Load(y + 64);
            var y2 = Vector512.Load(y + 128);
            var y3 = Vector512.Load(y + 192);
            var bsums = Vector256.Load((short*)(ab + SumsOffset));
            acc0 = Step(w0, y0, y1, y2, y3, bsums, da, acc0, ref g0);
            acc1 = Step(w1, y0, y1, y2, y3, bsums, da, acc1, ref g1);
            acc2 = Step(w2, y0, y1, y2, y3, bsums, da, acc2, ref g2);
            acc3 = Step(w3, y0, y1, y2, y3, bsums, da, acc3, ref g3);
        }
        float s0 = Simd256.Sum(acc0), s1 = Simd256.Sum(acc1), s2 = Simd256.Sum(acc2), s3 = Simd256.Sum(acc3);
        if (interleaved)
        {
            o[0] = g0 < 0 ? FileRowDot(w, 0, a, n) : s0;
            o[1] = g1 < 0 ? FileRowDot(w, 1, a, n) : s1;
            o[2] = g2 < 0 ? FileRowDot(w, 2, a, n) : s2;
            o[3] = g3 < 0 ? FileRowDot(w, 3, a, n) : s3;
            return;
        }
        o[0] = Q6_KRowSteps.Finish(s0, g0, w, a, n);
        o[1] = Q6_KRowSteps.Finish(s1, g1, w + rowOffset, a, n);
        o[2] = Q6_KRowSteps.Finish(s2, g2, w + 2 * rowOffset, a, n);
        o[3] = Q6_KRowSteps.Finish(s3, g3, w + 3 * rowOffset, a, n);
    }

    [ThreadStatic] private static byte[]? fileRow;

    /// <summary>Dot256 of row r of an interleaved group, copied back into the file's layout first: a row with an
    /// infinite or NaN d (hostile weights), as <see cref="Q6_KRowSteps.Finish"/> does for the file's rows.</summary>
    private static float FileRowDot(byte* group, int r, byte* a, int n)
    {
        int bytes = n / 256 * Block;
        var row = fileRow;
        if (row == null || row.Length < bytes) fileRow = row = new byte[bytes];   // grown once per thread
        fixed (byte* p = row)
        {
            Q6_KInterleaved.CopyRow(group, r, n, p);
            return Q6_KKernels.Dot256(p, a, n);
        }
    }

    /// <summary>Batch-1 rows [rowStart, rowEnd) of a matrix in <see cref="Q6_KInterleaved"/>'s layout (groups of
    /// four rows, super-block by super-block): <see cref="FourRows"/> on each group, its rows 210 bytes apart and its
    /// super-blocks 840; a group cut by the range is computed whole into a small buffer and its rows in range copied.</summary>
    public static void MatVecInterleaved(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        int blocks = n / 256;
        long groupBytes = 4L * blocks * Block;
        float* partial = stackalloc float[4];
        for (int g = rowStart / 4; g * 4 < rowEnd; g++)
        {
            int first = g * 4;
            bool whole = first >= rowStart && first + 4 <= rowEnd;
            FourRows(weights + g * groupBytes, Block, 4 * Block, blocks, activation, whole ? output + first : partial, n);
            if (!whole)
                for (int r = Math.Max(first, rowStart); r < Math.Min(first + 4, rowEnd); r++) output[r] = partial[r - first];
        }
    }

    private static float OneRow(byte* w, int blocks, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        int guard = 0;
        byte* wb = w, ab = a;
        for (int b = 0; b < blocks; b++, ab += BlockBytes, wb += Block)
        {
            Q6_KRowSteps.Prefetch(wb, Block32Rows.PrefetchAhead);
            sbyte* y = (sbyte*)(ab + QuantsOffset);
            acc = Step(wb, Vector512.Load(y), Vector512.Load(y + 64), Vector512.Load(y + 128), Vector512.Load(y + 192),
                Vector256.Load((short*)(ab + SumsOffset)), *(float*)ab, acc, ref guard);
        }
        return Q6_KRowSteps.Finish(Simd256.Sum(acc), guard, w, a, n);
    }
}

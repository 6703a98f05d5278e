using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for Q6_K weights on the Vector256 rungs (TScaled: vpmaddubsw + vpdpwssd on
/// AVX-VNNI, + vpmaddwd + vpaddd on AVX2). Every output is bit-identical to <see cref="Q6_KKernels.Dot256"/> of that
/// row: per super-block the same int32 lane vector (lane i = Σ over the eight 32-element groups of scale·(the
/// four-element sum of elements 4i..4i+3), less 32·(bsum·scale of sub-blocks 2i, 2i+1); integer sums are exact, so
/// their order is free), then Dot256's fp32 steps: convert, fused multiply-add with d_a·d_w, the same final
/// reduction. What differs is how cheaply the lanes are reached, per 210-byte super-block and row:
/// <list type="bullet">
/// <item>6-bit values: each of the four groups of a half is (low nibble) | (two qh bits moved to bits 4..5), with
/// the qh bits masked in place (qh·16, qh·4, qh, qh/4 &amp; 0x30): 17 instructions per half instead of 21 (12 where
/// AVX-512VL lets the JIT fold AND + OR into vpternlogd).</item>
/// <item>Scales: two sign-extensions of eight scale bytes duplicated into both 128-bit lanes give [s0..7 | s0..7]
/// and [s8..15 | s8..15]; each group's pair vector [s_k ×8 | s_k+1 ×8] is then one in-lane vpshufb with a
/// constant mask, instead of a vpshufb plus a lane-crossing vpmovsxbw per group.</item>
/// <item>The -32 offset: 32·Σ sc·bsum comes in as vpmaddwd (AVX-VNNI: vpdpwssd straight into the sums) of the
/// activation block sums with the scales ×(-32) (|32·sc| ≤ 4096 fits 16 bits, and the products and pair sums are
/// exact, so the lane is Dot256's sumi - (vpmaddwd(bsums, sc) &lt;&lt; 5)).</item>
/// <item>d: the fp16 at byte 208 read as the high half of the int32 at byte 206 (never past the row's end),
/// converted exactly without a branch (<see cref="Fp16.ToSingleFinite"/>), then d_a·d_w as in Dot256. Not the
/// w·2^-112 trick of the other decode kernels: Q6_K's d is usually an fp16 subnormal (~1e-5 for weights of std
/// 0.02), which the trick turns into an fp32 subnormal multiply input, a microcode assist per super-block and row
/// (measured in a q6_k decode: the output matmul streamed 5 GB/s). Infinity/NaN halves (tracked per row, three
/// scalar operations) send the row to Dot256.</item>
/// </list>
/// Four rows per pass, prefetching like <see cref="PairedRows{TBlocks,TDot}"/>.</summary>
internal static unsafe class Q6_KRows<TScaled> where TScaled : IScaledDotAdd
{
    private const int Block = 210;

    /// <summary>Tests only: the 16-register form on every machine (both forms give the same bits).</summary>
    internal static bool LoopedRowsOnly;

    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block;
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
            if (Avx512F.VL.IsSupported && !LoopedRowsOnly)   // a JIT-time constant: 32 vector registers
                FourRowsUnrolled(weights + r * rowBytes, rowBytes, blocks, activation, output + r, n);
            else
                FourRowsLooped(weights + r * rowBytes, rowBytes, blocks, activation, output + r, n);
        for (; r < rowEnd; r++)
            output[r] = OneRow(weights + r * rowBytes, blocks, activation, n);
    }

    /// <summary>vpshufb mask taking int16 word 2g of the low 128-bit lane and word 2g + 1 of the high lane into every
    /// word of that lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> PairMask(int g) => Vector256.Create(
        Vector128.Create((ushort)(0x0100 * (4 * g + 1) + 4 * g)),
        Vector128.Create((ushort)(0x0100 * (4 * g + 3) + 4 * g + 2))).AsByte();

    /// <summary>Dot256's int32 lanes of one super-block: Σ sc·(q·q_a) over the eight groups, less 32·Σ sc·bsum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sums(byte* w, byte* a)
    {
        sbyte* y = (sbyte*)(a + QuantsOffset);
        // [s0..7 | s0..7] and [s8..15 | s8..15] as int16; the blend of the two is [s0..7 | s8..15], bsums' layout
        var low = Avx2.ConvertToVector256Int16(Sse3.LoadAndDuplicateToVector128((double*)(w + 192)).AsSByte());
        var high = Avx2.ConvertToVector256Int16(Sse3.LoadAndDuplicateToVector128((double*)(w + 200)).AsSByte());
        var offsetScales = Avx2.MultiplyLow(Avx2.Blend(low.AsInt32(), high.AsInt32(), 0xF0).AsInt16(), Vector256.Create((short)-32));
        var bsums = Vector256.Load((short*)(a + SumsOffset));
        Vector256<int> sumi = typeof(TScaled) == typeof(VnniScaledDotAdd)
            ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, bsums, offsetScales)
            : Avx2.MultiplyAddAdjacent(bsums, offsetScales);
        sumi = Half(w, w + 128, y, low.AsByte(), sumi);
        return Half(w + 64, w + 160, y + 128, high.AsByte(), sumi);
    }

    /// <summary>sumi plus the four scaled group dots of one half (ql at ql, qh at qh, activations at y; scales
    /// [s0..7 | s0..7] of that half as int16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Half(byte* ql, byte* qh, sbyte* y, Vector256<byte> scales, Vector256<int> sumi)
    {
        var nibble = Vector256.Create((byte)0x0F);
        var top = Vector256.Create((byte)0x30);
        var qlA = Vector256.Load(ql);
        var qlB = Vector256.Load(ql + 32);
        var high = Vector256.Load(qh).AsUInt16();
        // 16-bit shifts: bits that cross into a neighbouring byte land only where the masks clear
        var q0 = (qlA & nibble) | ((high << 4).AsByte() & top);
        var q1 = (qlB & nibble) | ((high << 2).AsByte() & top);
        var q2 = ((qlA.AsUInt16() >>> 4).AsByte() & nibble) | (high.AsByte() & top);
        var q3 = ((qlB.AsUInt16() >>> 4).AsByte() & nibble) | ((high >>> 2).AsByte() & top);
        // two short chains, not one of four: vpdpwssd accumulates with a 5-cycle latency, and a single chain of
        // nine per super-block left the VNNI rung ~10 % slower than AVX2's independent vpmaddwd + vpaddd
        var a = TScaled.Add(Vector256<int>.Zero, q0, Vector256.Load(y), Avx2.Shuffle(scales, PairMask(0)).AsInt16());
        var b = TScaled.Add(Vector256<int>.Zero, q2, Vector256.Load(y + 64), Avx2.Shuffle(scales, PairMask(2)).AsInt16());
        a = TScaled.Add(a, q1, Vector256.Load(y + 32), Avx2.Shuffle(scales, PairMask(1)).AsInt16());
        b = TScaled.Add(b, q3, Vector256.Load(y + 96), Avx2.Shuffle(scales, PairMask(3)).AsInt16());
        return sumi + (a + b);
    }

    /// <summary>One row's super-block added into acc as Dot256 does: acc + float(sumi)·(d_a·d_w); guard collects bit 31 set where d_w is an infinity or NaN (exponent bits all ones: + 1 carries out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(byte* w, byte* a, float da, Vector256<float> acc, ref int guard)
    {
        float dw = Q6_KRowSteps.Scale(w, ref guard);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(Sums(w, a)), Vector256.Create(da * dw), acc);
    }

    /// <summary>Four rows per super-block step, written out: the JIT keeps the activation vectors in registers for
    /// all four rows. Measured faster with 32 vector registers (AVX-512 machines: 0.104 vs 0.115 ms on 2816 × 1024,
    /// one thread); with 16 it spills them and <see cref="FourRowsLooped"/> wins (0.117-0.124 vs 0.125-0.13 ms).</summary>
    private static void FourRowsUnrolled(byte* w, long rowBytes, int blocks, byte* a, float* o, int n)
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        int g0 = 0, g1 = 0, g2 = 0, g3 = 0;
        long ahead = Block32Rows.TileAhead(rowBytes);
        byte* ab = a;
        for (int b = 0; b < blocks; b++, ab += BlockBytes, w0 += Block, w1 += Block, w2 += Block, w3 += Block)
        {
            Q6_KRowSteps.Prefetch(w0, ahead); Q6_KRowSteps.Prefetch(w1, ahead); Q6_KRowSteps.Prefetch(w2, ahead); Q6_KRowSteps.Prefetch(w3, ahead);
            float da = *(float*)ab;
            acc0 = Step(w0, ab, da, acc0, ref g0);
            acc1 = Step(w1, ab, da, acc1, ref g1);
            acc2 = Step(w2, ab, da, acc2, ref g2);
            acc3 = Step(w3, ab, da, acc3, ref g3);
        }
        float s0 = Simd256.Sum(acc0), s1 = Simd256.Sum(acc1), s2 = Simd256.Sum(acc2), s3 = Simd256.Sum(acc3);
        o[0] = Q6_KRowSteps.Finish(s0, g0, w, a, n);
        o[1] = Q6_KRowSteps.Finish(s1, g1, w + rowBytes, a, n);
        o[2] = Q6_KRowSteps.Finish(s2, g2, w + 2 * rowBytes, a, n);
        o[3] = Q6_KRowSteps.Finish(s3, g3, w + 3 * rowBytes, a, n);
    }

    /// <summary>Four rows per super-block step as a loop over the rows, accumulators and guards in a small stack
    /// array: each row reads the activation from L1 as memory operands, which leaves 16 vector registers enough.</summary>
    [SkipLocalsInit]   // acc and guard are set before the loop
    private static void FourRowsLooped(byte* w, long rowBytes, int blocks, byte* a, float* o, int n)
    {
        var acc = stackalloc Vector256<float>[4];
        var guard = stackalloc int[4];
        for (int r = 0; r < 4; r++) { acc[r] = default; guard[r] = 0; }
        long ahead = Block32Rows.TileAhead(rowBytes);
        byte* ab = a;
        for (int b = 0; b < blocks; b++, ab += BlockBytes)
        {
            float da = *(float*)ab;
            byte* wb = w + (long)b * Block;
            for (int r = 0; r < 4; r++, wb += rowBytes)
            {
                Q6_KRowSteps.Prefetch(wb, ahead);
                acc[r] = Step(wb, ab, da, acc[r], ref guard[r]);
            }
        }
        float s0 = Simd256.Sum(acc[0]), s1 = Simd256.Sum(acc[1]), s2 = Simd256.Sum(acc[2]), s3 = Simd256.Sum(acc[3]);
        o[0] = Q6_KRowSteps.Finish(s0, guard[0], w, a, n);
        o[1] = Q6_KRowSteps.Finish(s1, guard[1], w + rowBytes, a, n);
        o[2] = Q6_KRowSteps.Finish(s2, guard[2], w + 2 * rowBytes, a, n);
        o[3] = Q6_KRowSteps.Finish(s3, guard[3], w + 3 * rowBytes, a, n);
    }

    private static float OneRow(byte* w, int blocks, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        int guard = 0;
        byte* wb = w, ab = a;
        for (int b = 0; b < blocks; b++, ab += BlockBytes, wb += Block)
        {
            Q6_KRowSteps.Prefetch(wb, Block32Rows.PrefetchAhead);
            acc = Step(wb, ab, *(float*)ab, acc, ref guard);
        }
        return Q6_KRowSteps.Finish(Simd256.Sum(acc), guard, w, a, n);
    }
}

/// <summary>The per-row scalar steps both Q6_K decode kernels (<see cref="Q6_KRows{TScaled}"/>,
/// <see cref="Q6_KRows512"/>) share: d, the prefetch of a super-block, the end of a row.</summary>
internal static unsafe class Q6_KRowSteps
{
    /// <summary>A super-block's d_w, exact and without an fp32 subnormal (<see cref="Fp16.ToSingleFinite"/>); the fp16
    /// is the high half of the int32 at byte 206 (never past the row's end). guard collects bit 31 where d_w is an
    /// infinity or NaN (exponent bits all ones: + 1 carries out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scale(byte* w, ref int guard)
    {
        int raw = *(int*)(w + 206);
        guard |= (raw & 0x7C00_0000) + 0x0400_0000;
        return Fp16.ToSingleFinite((uint)raw >> 16);
    }

    /// <summary>Prefetches the four lines of a super-block, ahead bytes on (0: off).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(byte* w, long ahead) => Block32Rows.PrefetchBlockDecode(w, ahead, 210);   // a super-block's bytes

    /// <summary>Dot256's end: the lanes summed, or the whole row by Dot256 where a d_w was an infinity or NaN.
    /// Callers reduce every accumulator before any call: a vector live across a call is spilled at each of its
    /// definitions inside the loop.</summary>
    public static float Finish(float sum, int guard, byte* row, byte* a, int n) =>
        guard < 0 ? Q6_KKernels.Dot256(row, a, n) : sum;
}

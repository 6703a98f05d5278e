using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Decode (batch 1) MatMulRows for Q4_K on the AVX-VNNI rung of a machine that also has AVX-512 BW and
/// VBMI (elsewhere <see cref="Q4_KRows{TScaled}"/> runs): <see cref="Q4_KRows{TScaled}"/>'s four-rows-per-pass
/// structure with each 64-element chunk in one 512-bit vector, low nibbles (sub-block 2j) in the low 256 bits and
/// high nibbles (2j+1) in the high 256 bits, as in <see cref="Q4_KKernels.Dot512"/>:
/// <list type="bullet">
/// <item>XX
/// high nibble (high half) to bits 0..3 and one vpandd clears the rest, where the ymm kernel needs and, shift, and
/// on two vectors.</item>
/// <item>The activations' four 64-byte chunks are loaded once per super-block and stay in registers for the four
/// rows (32 vector registers).</item>
/// <item>The 12 packed scale bytes become [sc0..7 | m0..7] in every 128-bit lane (the ymm kernel's nine operations
/// at 512 bits); one in-lane vpshufb per chunk makes the int16 scale vector [sc2j ×16 | sc2j+1 ×16].</item>
/// <item>.NET 10 exposes no 512-bit vpdpwssd, so each chunk is vpmaddubsw, vpmaddwd with its scale vector, and a
/// vpaddd.</item>
/// </list>
/// Lane i of the low half sums sub-blocks 0, 2, 4, 6 of Dot256's int32 lane i, the high half sub-blocks 1, 3, 5, 7:
/// their exact integer sum is Dot256's sumi, after which the two fused multiply-adds per super-block, the d/dmin
/// conversion, the infinity/NaN guard and the final <see cref="Simd256.Sum"/> are <see cref="Q4_KRows{TScaled}"/>'s,
/// so every output is bit-identical to <see cref="Q4_KKernels.Dot256"/> (Q4_KDecode512Tests).</summary>
internal static unsafe class Q4_KRows512
{
    private const int Block = 144;

    /// <summary>Whether this machine runs the 512-bit kernel (JIT-time constant).</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Avx512Vbmi.IsSupported;

    /// <summary>The AVX-VNNI rung's MatVec: the 512-bit kernel where <see cref="IsSupported"/>, else
    /// <see cref="Q4_KRows{TScaled}"/> with vpdpwssd.</summary>
    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (!IsSupported)
        {
            Q4_KRows<VnniScaledDotAdd>.MatVec(weights, n, rowStart, rowEnd, activation, output);
            return;
        }
        int blocks = n / 256;
        long rowBytes = (long)blocks * Block;
        int r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
            FourRows(weights + r * rowBytes, rowBytes, blocks, activation, output + r, n);
        for (; r < rowEnd; r++)
            output[r] = Q4_KKernels.Dot256(weights + r * rowBytes, activation, n);
    }

    private static void FourRows(byte* w0, long rowBytes, int blocks, byte* a, float* o, int n)
    {
        byte* w1 = w0 + rowBytes, w2 = w0 + 2 * rowBytes, w3 = w0 + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var guard = Vector128<int>.Zero;
        long ahead = Block32Rows.TileAhead(rowBytes);
        // the four rows' d·d_a (lanes 0..3) and -dmin·d_a (lanes 4..7), each broadcast by a load
        byte* scratch = stackalloc byte[64];
        float* products = (float*)(((nint)scratch + 31) & ~(nint)31);
        for (int b = 0; b < blocks; b++, a += BlockBytes, w0 += Block, w1 += Block, w2 += Block, w3 += Block)
        {
            Q4_KRows<VnniScaledDotAdd>.Prefetch(w0, ahead); Q4_KRows<VnniScaledDotAdd>.Prefetch(w1, ahead);
            Q4_KRows<VnniScaledDotAdd>.Prefetch(w2, ahead); Q4_KRows<VnniScaledDotAdd>.Prefetch(w3, ahead);
            float da = *(float*)a;
            var halves = Vector128.Create(*(int*)w0, *(int*)w1, *(int*)w2, *(int*)w3);
            guard |= (halves & Vector128.Create(0x7C00_7C00)) + Vector128.Create(0x0400_0400);
            Q4_KRows<VnniScaledDotAdd>.ScaleProducts(halves, da).Store(products);
            var bsums = Vector256.Load((short*)(a + SumsOffset));
            sbyte* y = (sbyte*)(a + QuantsOffset);
            // the sub-block pairs that one 64-byte load of packed nibbles holds: [0 | 2], [1 | 3], [4 | 6], [5 | 7]
            var y0 = Simd512.Combine(Vector256.Load(y), Vector256.Load(y + 64));
            var y1 = Simd512.Combine(Vector256.Load(y + 32), Vector256.Load(y + 96));
            var y2 = Simd512.Combine(Vector256.Load(y + 128), Vector256.Load(y + 192));
            var y3 = Simd512.Combine(Vector256.Load(y + 160), Vector256.Load(y + 224));
            acc0 = SuperBlock(w0, y0, y1, y2, y3, bsums, products, acc0);
            acc1 = SuperBlock(w1, y0, y1, y2, y3, bsums, products + 1, acc1);
            acc2 = SuperBlock(w2, y0, y1, y2, y3, bsums, products + 2, acc2);
            acc3 = SuperBlock(w3, y0, y1, y2, y3, bsums, products + 3, acc3);
        }
        long back = (long)blocks * Block;
        byte* a0 = a - (long)blocks * BlockBytes;
        o[0] = Q4_KRows<VnniScaledDotAdd>.Finish(acc0, guard.GetElement(0), w0 - back, a0, n);
        o[1] = Q4_KRows<VnniScaledDotAdd>.Finish(acc1, guard.GetElement(1), w1 - back, a0, n);
        o[2] = Q4_KRows<VnniScaledDotAdd>.Finish(acc2, guard.GetElement(2), w2 - back, a0, n);
        o[3] = Q4_KRows<VnniScaledDotAdd>.Finish(acc3, guard.GetElement(3), w3 - back, a0, n);
    }

    /// <summary>One row's super-block: 16-lane sumi (sub-blocks 0, 1, 4, 5 in the low half, 2, 3, 6, 7 in the high
    /// half), folded to Dot256's 8 lanes, then Dot256's two fused steps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SuperBlock(byte* w, Vector512<sbyte> y0, Vector512<sbyte> y1, Vector512<sbyte> y2, Vector512<sbyte> y3,
                                               Vector256<short> bsums, float* products, Vector256<float> acc)
    {
        var sm = ScalesAndMins(w + 4);
        // integer sums are exact in any order
        var sumi = Half(Vector512.Load(w + 16), y0, y1, sm,
                        Vector512.Create(0x8000_8000_8000_8000UL, 0x8000_8000_8000_8000UL, 0x8000_8000_8000_8000UL, 0x8000_8000_8000_8000UL,
                                         0x8002_8002_8002_8002UL, 0x8002_8002_8002_8002UL, 0x8002_8002_8002_8002UL, 0x8002_8002_8002_8002UL),
                        Vector512.Create(0x8001_8001_8001_8001UL, 0x8001_8001_8001_8001UL, 0x8001_8001_8001_8001UL, 0x8001_8001_8001_8001UL,
                                         0x8003_8003_8003_8003UL, 0x8003_8003_8003_8003UL, 0x8003_8003_8003_8003UL, 0x8003_8003_8003_8003UL))
                 + Half(Vector512.Load(w + 80), y2, y3, sm,
                        Vector512.Create(0x8004_8004_8004_8004UL, 0x8004_8004_8004_8004UL, 0x8004_8004_8004_8004UL, 0x8004_8004_8004_8004UL,
                                         0x8006_8006_8006_8006UL, 0x8006_8006_8006_8006UL, 0x8006_8006_8006_8006UL, 0x8006_8006_8006_8006UL),
                        Vector512.Create(0x8005_8005_8005_8005UL, 0x8005_8005_8005_8005UL, 0x8005_8005_8005_8005UL, 0x8005_8005_8005_8005UL,
                                         0x8007_8007_8007_8007UL, 0x8007_8007_8007_8007UL, 0x8007_8007_8007_8007UL, 0x8007_8007_8007_8007UL));
        var folded = sumi.GetLower() + sumi.GetUpper();
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(folded), Avx.BroadcastScalarToVector256(products), acc);
        var mins = Avx2.Shuffle(sm.GetLower(), Vector256.Create(0x8009_8009_8008_8008UL, 0x800B_800B_800A_800AUL, 0x800D_800D_800C_800CUL, 0x800F_800F_800E_800EUL).AsByte());
        var minTerms = Avx2.MultiplyAddAdjacent(bsums, mins.AsInt16());
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(minTerms), Avx.BroadcastScalarToVector256(products + 4), acc);
    }

    /// <summary>Two 64-element chunks [c | c'] (64 packed bytes, one load): their low nibbles (sub-blocks k | k+2)
    /// against yLow = activations [32k..32k+31 | 32k+64..32k+95], their high nibbles (k+1 | k+3) against yHigh, each
    /// scaled per 256-bit half by its sub-block's scale (pairs of bytes from vpmaddubsw, at most 2·15·127, then
    /// vpmaddwd). lowScales / highScales pick the scales out of every 128-bit lane of sm as int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Half(Vector512<byte> q, Vector512<sbyte> yLow, Vector512<sbyte> yHigh, Vector512<byte> sm,
                                       Vector512<ulong> lowScales, Vector512<ulong> highScales)
    {
        var nibble = Vector512.Create((byte)0x0F);
        var low = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q & nibble, yLow), Avx512BW.Shuffle(sm, lowScales.AsByte()).AsInt16());
        // each byte's bits 4..11 of its qword (a vpmultishiftqb, on the shuffle port; a vpsrlw would compete with the
        // multiplies), whose low nibble is the byte's high nibble
        var up = Avx512Vbmi.MultiShift(Vector512.Create(0x3C34_2C24_1C14_0C04UL).AsByte(), q.AsUInt64());
        var high = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(up & nibble, yHigh), Avx512BW.Shuffle(sm, highScales.AsByte()).AsInt16());
        return low + high;
    }

    /// <summary><see cref="Q4_KRows{TScaled}.ScalesAndMins"/> in all four 128-bit lanes: [sc0..sc7 | m0..m7].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> ScalesAndMins(byte* packed)
    {
        var p = Avx512F.BroadcastVector128ToVector512((int*)packed).AsByte();
        var lowBits = Avx512BW.Shuffle(p, Vector512.Create(0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL, 0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL, 0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL, 0x0B0A_0908_0302_0100UL, 0x0B0A_0908_0706_0504UL).AsByte());
        var topBits = Avx512BW.Shuffle(p, Vector512.Create(0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL, 0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL, 0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL, 0x0302_0100_8080_8080UL, 0x0706_0504_8080_8080UL).AsByte());
        return (lowBits & Vector512.Create(0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL, 0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL, 0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL, 0x0F0F_0F0F_3F3F_3F3FUL, 0x0000_0000_3F3F_3F3FUL).AsByte())
             | ((lowBits.AsUInt16() >>> 4).AsByte() & Vector512.Create(0UL, 0x0F0F_0F0F_0000_0000UL, 0UL, 0x0F0F_0F0F_0000_0000UL, 0UL, 0x0F0F_0F0F_0000_0000UL, 0UL, 0x0F0F_0F0F_0000_0000UL).AsByte())
             | ((topBits.AsUInt16() >>> 2).AsByte() & Vector512.Create((byte)0x30));
    }
}

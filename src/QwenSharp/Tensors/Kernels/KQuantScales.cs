using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Unpacking of the 12-byte 6-bit scale fields of the K-quants, done on three 32-bit words at once.</summary>
internal static unsafe class KQuantScales
{
    /// <summary>Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins. Sub-block j &lt; 4 keeps its scale in the low
    /// 6 bits of byte j and its min in byte j+4; j ≥ 4 keeps the low 4 bits of both in byte j+4 (scale low nibble,
    /// min high nibble) and the top 2 bits in bits 6..7 of bytes j-4 (scale) and j (min). Byte j of the results
    /// is sub-block j's value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (ulong Scales, ulong Mins) UnpackScaleMin(byte* packed)
    {
        uint a0 = Unsafe.ReadUnaligned<uint>(packed);
        uint a1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint a2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint scalesHigh = (a2 & 0x0F0F_0F0Fu) | ((a0 >> 2) & 0x3030_3030u);
        uint minsHigh = ((a2 >> 4) & 0x0F0F_0F0Fu) | ((a1 >> 2) & 0x3030_3030u);
        return ((a0 & 0x3F3F_3F3Fu) | (ulong)scalesHigh << 32, (a1 & 0x3F3F_3F3Fu) | (ulong)minsHigh << 32);
    }

    /// <summary>Q3_K: sixteen 6-bit scales, minus 32. Scale j's low 4 bits are the low nibble of byte j (j &lt; 8)
    /// or the high nibble of byte j-8; its top 2 bits are bits 2·(j/4) of byte 8 + j%4. Returned as four words,
    /// byte k of word i being scale 4i+k (still biased by 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint S0, uint S1, uint S2, uint S3) UnpackQ3(byte* packed)
    {
        uint a0 = Unsafe.ReadUnaligned<uint>(packed);
        uint a1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint a2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        return ((a0 & 0x0F0F_0F0Fu) | ((a2 << 4) & 0x3030_3030u),
                (a1 & 0x0F0F_0F0Fu) | ((a2 << 2) & 0x3030_3030u),
                ((a0 >> 4) & 0x0F0F_0F0Fu) | (a2 & 0x3030_3030u),
                ((a1 >> 4) & 0x0F0F_0F0Fu) | ((a2 >> 2) & 0x3030_3030u));
    }

    /// <summary>Q3_K scales as 16 signed bytes (scale - 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> UnpackQ3Vector(byte* packed)
    {
        var (s0, s1, s2, s3) = UnpackQ3(packed);
        return Vector128.Create(s0, s1, s2, s3).AsSByte() - Vector128.Create((sbyte)32);
    }

    /// <summary>Byte k of a packed word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Byte(ulong packed, int k) => (int)(packed >> (8 * k)) & 0xFF;

    /// <summary>Q4_K/Q5_K min terms against a Q8_K block: lane k = m_k·(bsums[2k] + bsums[2k+1]) (each min is
    /// repeated for the two 16-element sums of its 32-element sub-block). AVX2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MinTerms(ulong mins, byte* activationBlock)
    {
        var m = Vector128.CreateScalar(mins).AsByte();
        var repeated = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
        return Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(activationBlock + Q8_KLayout.SumsOffset)), repeated);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>AVX2 building blocks shared by the Vector256 (and Vector512) kernels.</summary>
internal static unsafe class Simd256
{
    /// <summary>acc + x·y for signed bytes: |x| goes in as the unsigned operand and x's sign moves onto y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAddSigned<TDot>(Vector256<int> acc, Vector256<sbyte> x, Vector256<sbyte> y)
        where TDot : IInt8Dot256 =>
        TDot.MultiplyAdd(acc, Avx2.Abs(x), Avx2.Sign(y, x));

    /// <summary>Lane i = scale[2i]·(u·s over bytes 4i,4i+1) + scale[2i+1]·(bytes 4i+2,4i+3): the byte dot and a
    /// per-16-bit-lane integer scale in two instructions (exact while |u·s + u'·s'| &lt; 32768).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> ScaledDot(Vector256<byte> u, Vector256<sbyte> s, Vector256<short> scale) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), scale);

    /// <summary>The 32 nibbles of 16 bytes as bytes 0..15: low nibbles first, then high nibbles (the layout of
    /// Q4_0/Q4_1/Q5_x blocks, whose element j is the low nibble of byte j and element j+16 its high nibble).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* p)
    {
        var v = Vector128.Load(p);
        return Vector256.Create(v, (v.AsUInt16() >>> 4).AsByte()) & Vector256.Create((byte)0x0F);
    }

    /// <summary>(v >> shift) &amp; mask per byte; the 16-bit shift leaks bits only into positions the mask clears.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Bits(Vector256<byte> v, int shift, byte mask) =>
        (v.AsUInt16() >>> shift).AsByte() & Vector256.Create(mask);

    /// <summary>v &lt;&lt; shift per byte, for bytes whose set bits stay inside the byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ShiftLeftInBytes(Vector256<byte> v, int shift) => (v.AsUInt16() << shift).AsByte();

    /// <summary>Bit i of bits -> byte i = 0xFF if set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SpreadBits(uint bits)
    {
        // byte i takes byte i/8 of the word, then keeps only bit i%8: set iff it equals that bit
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(),
            Vector256.Create(0x0000_0000_0000_0000UL, 0x0101_0101_0101_0101UL, 0x0202_0202_0202_0202UL, 0x0303_0303_0303_0303UL).AsByte());
        var select = Vector256.Create(0x8040_2010_0804_0201UL).AsByte();
        return Vector256.Equals(spread & select, select);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        var x = v.GetLower() + v.GetUpper();
        x += Sse.MoveHighToLow(x, x);
        x += Sse3.MoveHighAndDuplicate(x);
        return x.ToScalar();
    }

    /// <summary>Int16 lanes [s[k] ×8, s[k+1] ×8] from 16 signed bytes (the per-16-element scales of Q2_K/Q3_K/Q6_K);
    /// mask holds [k ×8, k+1 ×8].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairScalesSigned(Vector128<sbyte> scales, Vector128<byte> mask) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales, mask.AsSByte()));

    /// <summary>As <see cref="PairScalesSigned"/> for unsigned scale bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairScalesUnsigned(Vector128<byte> scales, Vector128<byte> mask) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales, mask));

    /// <summary>The first shuffle mask for <see cref="PairScalesSigned"/>; add 2 per step.</summary>
    public static Vector128<byte> FirstPairMask => Vector128.Create(0UL, 0x0101_0101_0101_0101UL).AsByte();

    /// <summary>Lane k = the sum of all lanes of vk: eight horizontal sums in one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumEach(Vector256<int> v0, Vector256<int> v1, Vector256<int> v2, Vector256<int> v3,
                                         Vector256<int> v4, Vector256<int> v5, Vector256<int> v6, Vector256<int> v7)
    {
        // after two rounds of pairwise adds, lane k of the low (high) 128 bits holds v_k's low (high) half sum
        var s0123 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(v0, v1), Avx2.HorizontalAdd(v2, v3));
        var s4567 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(v4, v5), Avx2.HorizontalAdd(v6, v7));
        return Avx2.Permute2x128(s0123, s4567, 0x20) + Avx2.Permute2x128(s0123, s4567, 0x31);
    }

    /// <summary>The fp16 values at p, p + stride, …, p + 7·stride as floats (one gather; reads 4 bytes at each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GatherHalves(byte* p, int stride)
    {
        var raw = Avx2.GatherVector256((int*)p, Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride, 1);
        return Fp16.ToSingle((raw & Vector256.Create(0xFFFF)).AsUInt32());
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>Byte dot products on 16-byte vectors for the Vector128 rung. The int32 lanes of the result hold partial
/// sums whose grouping differs between implementations, so callers only rely on the total of a vector (every
/// 16-byte vector the kernels feed in lies inside one scale group). Callers keep operands in range so that no
/// 16-bit intermediate saturates: |u·s + u'·s'| &lt; 32768.</summary>
internal interface IInt8Dot128
{
    /// <summary>acc + Σ u[i]·s[i], u unsigned, s signed.</summary>
    static abstract Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> u, Vector128<sbyte> s);

    /// <summary>acc + Σ x[i]·y[i], both signed; y must not hold -128.</summary>
    static abstract Vector128<int> MultiplyAddSigned(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> y);
}

/// <summary>pmaddubsw + pmaddwd; the signed form moves x's sign onto y (psignb) so x can go in unsigned.</summary>
internal readonly struct Ssse3Int8Dot : IInt8Dot128
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> u, Vector128<sbyte> s) =>
        acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(u, s), Vector128<short>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAddSigned(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> y) =>
        MultiplyAdd(acc, Ssse3.Abs(x), Ssse3.Sign(y, x));
}

/// <summary>Widen to 16 bits, multiply, widen the products to 32 bits and add: only cross-platform operations.</summary>
internal readonly struct PortableInt8Dot : IInt8Dot128
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> u, Vector128<sbyte> s)
    {
        var lower = Vector128.WidenLower(u).AsInt16() * Vector128.WidenLower(s);   // |255·128| fits in 16 bits
        var upper = Vector128.WidenUpper(u).AsInt16() * Vector128.WidenUpper(s);
        return acc + Vector128.WidenLower(lower) + Vector128.WidenUpper(lower) + Vector128.WidenLower(upper) + Vector128.WidenUpper(upper);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MultiplyAddSigned(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> y)
    {
        var lower = Vector128.WidenLower(x) * Vector128.WidenLower(y);
        var upper = Vector128.WidenUpper(x) * Vector128.WidenUpper(y);
        return acc + Vector128.WidenLower(lower) + Vector128.WidenUpper(lower) + Vector128.WidenLower(upper) + Vector128.WidenUpper(upper);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>Unsigned × signed byte dot on 32-byte vectors: int32 lane i = acc[i] + Σ of the four products of bytes
/// 4i..4i+3 (the same grouping for both implementations). Kernels are generic over this so the Vector256 rung
/// can be tested with and without AVX-VNNI on one machine.</summary>
internal interface IInt8Dot256
{
    static abstract Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s);
}

/// <summary>vpmaddubsw + vpmaddwd. Callers keep |u·s + u'·s'| &lt; 32768 so the 16-bit step never saturates.</summary>
internal readonly struct Avx2Int8Dot : IInt8Dot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) =>
        acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);
}

/// <summary>One vpdpbusd (no 16-bit intermediate).</summary>
internal readonly struct AvxVnniInt8Dot : IInt8Dot256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> u, Vector256<sbyte> s) =>
        AvxVnni.MultiplyWideningAndAdd(acc, u, s);
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>AVX-512 BW building blocks. .NET 10 exposes no 512-bit VNNI, so byte dots are vpmaddubsw + vpmaddwd.</summary>
internal static class Simd512
{
    /// <summary>acc + Σ u·s in groups of four bytes per int32 lane (no 16-bit saturation for the callers' ranges).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAdd(Vector512<int> acc, Vector512<byte> u, Vector512<sbyte> s) =>
        acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512<short>.One);

    /// <summary>acc + x·y for signed bytes (AVX-512 has no vpsignb: negate y where x is negative).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> MultiplyAddSigned(Vector512<int> acc, Vector512<sbyte> x, Vector512<sbyte> y)
    {
        var signedY = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<sbyte>.Zero), -y, y);
        return MultiplyAdd(acc, Avx512BW.Abs(x), signedY);
    }

    /// <summary>Like <see cref="Simd256.ScaledDot"/>: byte dot with a per-16-bit-lane integer scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> ScaledDot(Vector512<byte> u, Vector512<sbyte> s, Vector512<short> scale) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), scale);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Simd256.Sum(v.GetLower() + v.GetUpper());

    /// <summary>[lower | upper] in one vinserti64x4 (Vector512.Create(lower, upper) currently compiles to two
    /// inserts into a stale register, a false dependency across loop iterations).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Combine<T>(Vector256<T> lower, Vector256<T> upper) =>
        Avx512F.InsertVector256(lower.ToVector512Unsafe().AsByte(), upper.AsByte(), 1).As<byte, T>();
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>Writes 16 small integers as floats times a scale (plus an offset). Dequantization unpacks blocks into
/// 16-byte vectors once and is generic over this, so each rung differs only in how wide it converts and stores.
/// q·scale is exact for every block type (at most 25 significant bits, one rounding), so every rung matches the
/// reference bit for bit.</summary>
internal unsafe interface IFloatStore16
{
    /// <summary>dst[i] = q[i]·scale.</summary>
    static abstract void Store(float* dst, Vector128<sbyte> q, float scale);

    /// <summary>dst[i] = q[i]·scale + offset.</summary>
    static abstract void Store(float* dst, Vector128<sbyte> q, float scale, float offset);
}

internal readonly unsafe struct FloatStore512 : IFloatStore16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale) =>
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(q)) * Vector512.Create(scale)).Store(dst);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale, float offset) =>
        (Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(q)) * Vector512.Create(scale) + Vector512.Create(offset)).Store(dst);
}

internal readonly unsafe struct FloatStore256 : IFloatStore16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale)
    {
        var s = Vector256.Create(scale);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)) * s).Store(dst);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(q, 8))) * s).Store(dst + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale, float offset)
    {
        var s = Vector256.Create(scale);
        var o = Vector256.Create(offset);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)) * s + o).Store(dst);
        (Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(q, 8))) * s + o).Store(dst + 8);
    }
}

internal readonly unsafe struct FloatStore128 : IFloatStore16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale)
    {
        var s = Vector128.Create(scale);
        var lower = Vector128.WidenLower(q);
        var upper = Vector128.WidenUpper(q);
        (Vector128.ConvertToSingle(Vector128.WidenLower(lower)) * s).Store(dst);
        (Vector128.ConvertToSingle(Vector128.WidenUpper(lower)) * s).Store(dst + 4);
        (Vector128.ConvertToSingle(Vector128.WidenLower(upper)) * s).Store(dst + 8);
        (Vector128.ConvertToSingle(Vector128.WidenUpper(upper)) * s).Store(dst + 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* dst, Vector128<sbyte> q, float scale, float offset)
    {
        var s = Vector128.Create(scale);
        var o = Vector128.Create(offset);
        var lower = Vector128.WidenLower(q);
        var upper = Vector128.WidenUpper(q);
        (Vector128.ConvertToSingle(Vector128.WidenLower(lower)) * s + o).Store(dst);
        (Vector128.ConvertToSingle(Vector128.WidenUpper(lower)) * s + o).Store(dst + 4);
        (Vector128.ConvertToSingle(Vector128.WidenLower(upper)) * s + o).Store(dst + 8);
        (Vector128.ConvertToSingle(Vector128.WidenUpper(upper)) * s + o).Store(dst + 12);
    }
}

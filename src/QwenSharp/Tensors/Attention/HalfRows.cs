using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QwenSharp.Tensors.Attention;

/// <summary>Whether a run of fp16 cache elements are all normal numbers (exponent 1..30: no zeros, subnormals,
/// infinities or NaNs). Such halves convert to fp32 exactly by rebiasing the exponent alone (4 vector operations per
/// 16, <see cref="IRowLanes{TSelf}.LoadHalfNormal"/>), where the general exact conversion takes 14; decode attention
/// converts every key and value it reads, so one check per cache row (3 operations per 32 halves) pays for itself.
/// Real keys and values are almost never exactly zero or below 2^-14; rows that are go the general way.</summary>
internal static unsafe class HalfRows
{
    private const ushort ExponentMask = 0x7C00, ExponentOne = 0x0400, NormalSpan = 0x7800;

    public static bool AllNormal(ushort* p, int count)
    {
        // (exponent bits - 1) wraps below zero for exponent 0, so one unsigned compare rejects 0 and 31.
        int i = 0;
        ushort worst = 0;
        if (Vector512.IsHardwareAccelerated && count >= 32)
        {
            var acc = Vector512<ushort>.Zero;
            for (; i + 32 <= count; i += 32) acc = Vector512.Max(acc, (Vector512.Load(p + i) & Vector512.Create(ExponentMask)) - Vector512.Create(ExponentOne));
            if (Vector512.GreaterThanOrEqualAny(acc, Vector512.Create(NormalSpan))) return false;
        }
        if (Vector256.IsHardwareAccelerated && count - i >= 16)
        {
            var acc = Vector256<ushort>.Zero;
            for (; i + 16 <= count; i += 16) acc = Vector256.Max(acc, (Vector256.Load(p + i) & Vector256.Create(ExponentMask)) - Vector256.Create(ExponentOne));
            if (Vector256.GreaterThanOrEqualAny(acc, Vector256.Create(NormalSpan))) return false;
        }
        if (Vector128.IsHardwareAccelerated && count - i >= 8)
        {
            var acc = Vector128<ushort>.Zero;
            for (; i + 8 <= count; i += 8) acc = Vector128.Max(acc, (Vector128.Load(p + i) & Vector128.Create(ExponentMask)) - Vector128.Create(ExponentOne));
            if (Vector128.GreaterThanOrEqualAny(acc, Vector128.Create(NormalSpan))) return false;
        }
        for (; i < count; i++) worst = Math.Max(worst, (ushort)((p[i] & ExponentMask) - ExponentOne));
        return worst < NormalSpan;
    }

    /// <summary>fp32 bits of normal halves given sign-extended to 32 bits: the sign copies in bits 28..30 cleared,
    /// exponent and mantissa moved into place, the exponent rebiased by 127 − 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> NormalToSingle(Vector512<int> signExtended) =>
        (((signExtended << 13) & Vector512.Create(KeepSign)) + Vector512.Create(Rebias)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> NormalToSingle(Vector256<int> signExtended) =>
        (((signExtended << 13) & Vector256.Create(KeepSign)) + Vector256.Create(Rebias)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> NormalToSingle(Vector128<int> signExtended) =>
        (((signExtended << 13) & Vector128.Create(KeepSign)) + Vector128.Create(Rebias)).AsSingle();

    private const int KeepSign = unchecked((int)0x8FFF_FFFF);
    private const int Rebias = (127 - 15) << 23;
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QwenSharp.Tensors.Simd;

/// <summary>bfloat16 is the top half of a binary32, so widening is a shift. Narrowing rounds to nearest even and
/// keeps NaN quiet, exactly as ggml's fp32_to_bf16 (no subnormal flush in current ggml).</summary>
internal static unsafe class BFloat16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(byte* p) => ToSingle(Unsafe.ReadUnaligned<ushort>(p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x40);   // NaN: force quiet
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    // Vector forms work on 32-bit lanes: the result's low 16 bits are the bfloat16.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> FromSingle(Vector512<float> value)
    {
        var u = value.AsUInt32();
        var rounded = (u + Vector512.Create(0x7FFFu) + ((u >> 16) & Vector512<uint>.One)) >> 16;
        var isNaN = Vector512.GreaterThan(u & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        return Vector512.ConditionalSelect(isNaN, (u >> 16) | Vector512.Create(0x40u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> FromSingle(Vector256<float> value)
    {
        var u = value.AsUInt32();
        var rounded = (u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One)) >> 16;
        // |u| <= 0x7FFFFFFF, so a signed compare is exact (AVX2 has no unsigned one)
        var isNaN = Vector256.GreaterThan((u & Vector256.Create(0x7FFF_FFFFu)).AsInt32(), Vector256.Create(0x7F80_0000)).AsUInt32();
        return Vector256.ConditionalSelect(isNaN, (u >> 16) | Vector256.Create(0x40u), rounded);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> FromSingle(Vector128<float> value)
    {
        var u = value.AsUInt32();
        var rounded = (u + Vector128.Create(0x7FFFu) + ((u >> 16) & Vector128<uint>.One)) >> 16;
        var isNaN = Vector128.GreaterThan((u & Vector128.Create(0x7FFF_FFFFu)).AsInt32(), Vector128.Create(0x7F80_0000)).AsUInt32();
        return Vector128.ConditionalSelect(isNaN, (u >> 16) | Vector128.Create(0x40u), rounded);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QwenSharp.Tensors.Simd;

/// <summary>Cross-platform Vector128 building blocks (the portable rung and dequantization unpacking).</summary>
internal static unsafe class Simd128
{
    /// <summary>The low nibbles of 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Low(Vector128<byte> v) => v & Vector128.Create((byte)0x0F);

    /// <summary>The high nibbles of 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> High(Vector128<byte> v) => (v.AsUInt16() >>> 4).AsByte() & Vector128.Create((byte)0x0F);

    /// <summary>(v >> shift) &amp; mask per byte; the 16-bit shift leaks bits only into positions the mask clears.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Bits(Vector128<byte> v, int shift, byte mask) =>
        (v.AsUInt16() >>> shift).AsByte() & Vector128.Create(mask);

    /// <summary>v &lt;&lt; shift per byte, for bytes whose set bits stay inside the byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ShiftLeftInBytes(Vector128<byte> v, int shift) => (v.AsUInt16() << shift).AsByte();

    /// <summary>Bit i of the low 16 bits -> byte i = 0xFF if set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> SpreadBits(uint bits)
    {
        ulong lower = (bits & 0xFF) * 0x0101_0101_0101_0101UL;
        ulong upper = ((bits >> 8) & 0xFF) * 0x0101_0101_0101_0101UL;
        var select = Vector128.Create(0x8040_2010_0804_0201UL).AsByte();
        return Vector128.Equals(Vector128.Create(lower, upper).AsByte() & select, select);
    }
}

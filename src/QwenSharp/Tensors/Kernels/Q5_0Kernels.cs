using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q5_0 weights: 22-byte blocks of 32 (fp16 d, uint32 qh, qs[16]); element j = low nibble of qs[j] with
/// fifth bit qh bit j, element j+16 = high nibble with qh bit j+16; value = (q-16)·d. Dotted with Q8_0.</summary>
internal static unsafe class Q5_0Kernels
{
    private const int Block = 22;
    private const int ActBlock = 34;

    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new(&Dequantize<FloatStore256>, &Dot256<AvxVnniInt8Dot>),
        KernelPath.Vector256Avx2 => new(&Dequantize<FloatStore256>, &Dot256<Avx2Int8Dot>),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            uint qh = Unsafe.ReadUnaligned<uint>(src + 2);
            for (int j = 0; j < 16; j++)
            {
                int q = src[6 + j];
                dst[j] = ((q & 15 | (int)((qh >> j) & 1) << 4) - 16) * d;
                dst[j + 16] = ((q >> 4 | (int)((qh >> (j + 16)) & 1) << 4) - 16) * d;
            }
        }
    }

    /// <summary>Signed values (q-16) of elements 0..15 and 16..31.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<sbyte> Lower, Vector128<sbyte> Upper) Unpack128(byte* block)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block + 2);
        var v = Vector128.Load(block + 6);
        var fifth = Vector128.Create((byte)0x10);
        var sixteen = Vector128.Create((sbyte)16);
        var lower = (Simd128.Low(v) | (Simd128.SpreadBits(qh) & fifth)).AsSByte() - sixteen;
        var upper = (Simd128.High(v) | (Simd128.SpreadBits(qh >> 16) & fifth)).AsSByte() - sixteen;
        return (lower, upper);
    }

    /// <summary>All 32 signed values: where the fifth bit is clear, setting the high nibble to 0xF gives q-16 in
    /// two's complement; where it is set, the nibble itself is q-16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Unpack256(byte* block)
    {
        var fifth = Simd256.SpreadBits(Unsafe.ReadUnaligned<uint>(block + 2));
        return (Simd256.Nibbles(block + 6) | Vector256.AndNot(Vector256.Create((byte)0xF0), fifth)).AsSByte();
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            var (lower, upper) = Unpack128(src);
            TStore.Store(dst, lower, d);
            TStore.Store(dst + 16, upper, d);
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(w + 2);
            sbyte* y = (sbyte*)(a + 2);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                int q = w[6 + j];
                isum += ((q & 15 | (int)((qh >> j) & 1) << 4) - 16) * y[j];
                isum += ((q >> 4 | (int)((qh >> (j + 16)) & 1) << 4) - 16) * y[j + 16];
            }
            sum += isum * (Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            var (lower, upper) = Unpack128(w);
            var i = TDot.MultiplyAddSigned(Vector128<int>.Zero, lower, Vector128.Load((sbyte*)(a + 2)));
            i = TDot.MultiplyAddSigned(i, upper, Vector128.Load((sbyte*)(a + 18)));
            acc += Vector128.ConvertToSingle(i) * Vector128.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return Vector128.Sum(acc);
    }

    public static float Dot256<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot256
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            var i = Simd256.MultiplyAddSigned<TDot>(Vector256<int>.Zero, Unpack256(w), Vector256.Load((sbyte*)(a + 2)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i), Vector256.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a)), acc);
        }
        return Simd256.Sum(acc);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        int blocks = n / 32, b = 0;
        var acc = Vector512<float>.Zero;
        for (; b + 2 <= blocks; b += 2, w += 2 * Block, a += 2 * ActBlock)
        {
            var x = Vector512.Create(Unpack256(w), Unpack256(w + Block));
            var y = Vector512.Create(Vector256.Load((sbyte*)(a + 2)), Vector256.Load((sbyte*)(a + ActBlock + 2)));
            var i = Simd512.MultiplyAddSigned(Vector512<int>.Zero, x, y);
            var d = Vector512.Create(Vector256.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a)),
                                     Vector256.Create(Fp16.ToSingle(w + Block) * Fp16.ToSingle(a + ActBlock)));
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(i), d, acc);
        }
        float sum = Simd512.Sum(acc);
        if (b < blocks) sum += Dot256<Avx2Int8Dot>(w, a, 32);
        return sum;
    }
}

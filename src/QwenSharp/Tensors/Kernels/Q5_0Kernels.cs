using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Block32Dot.Dot512<Blocks>),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, AvxVnniInt8Dot>)
            .WithMatMul(&Block32Tile.MatMul<Blocks, AvxVnniInt8Dot>),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, Avx2Int8Dot>)
            .WithMatMul(&Block32Tile.MatMul<Blocks, Avx2Int8Dot>),
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

    /// <summary>Integer block dots for the shared 8-block drivers in <see cref="Block32Dot"/>.</summary>
    internal readonly struct Blocks : IBlock32Tile
    {
        public static int WeightBlockBytes => Block;
        public static int ActivationBlockBytes => ActBlock;
        public static int ActivationQuantsAt => 2;
        public static bool HasOffset => false;
        public static byte Bias => 16;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> Unsigned(byte* w) => (Unpack256(w) + Vector256.Create((sbyte)16)).AsByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256 =>
            Simd256.MultiplyAddSigned<TDot>(Vector256<int>.Zero, Unpack256(w), Vector256.Load((sbyte*)(a + 2)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot512(byte* w, byte* a) =>
            Simd512.MultiplyAddSigned(Vector512<int>.Zero,
                Simd512.Combine(Unpack256(w), Unpack256(w + Block)),
                Simd512.Combine(Vector256.Load((sbyte*)(a + 2)), Vector256.Load((sbyte*)(a + ActBlock + 2))));
    }
}

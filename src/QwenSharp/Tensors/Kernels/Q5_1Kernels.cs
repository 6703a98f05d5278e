using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q5_1 weights: 24-byte blocks of 32 (fp16 d, fp16 m, uint32 qh, qs[16], bits as Q5_0); value = q·d + m.
/// Dotted with Q8_1 activations: per block d_w·d_a·Σ q·q_a + m·s.</summary>
internal static unsafe class Q5_1Kernels
{
    private const int Block = 24;
    private const int ActBlock = 36;

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
            float d = Fp16.ToSingle(src), m = Fp16.ToSingle(src + 2);
            uint qh = Unsafe.ReadUnaligned<uint>(src + 4);
            for (int j = 0; j < 16; j++)
            {
                int q = src[8 + j];
                dst[j] = (q & 15 | (int)((qh >> j) & 1) << 4) * d + m;
                dst[j + 16] = (q >> 4 | (int)((qh >> (j + 16)) & 1) << 4) * d + m;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte> Lower, Vector128<byte> Upper) Unpack128(byte* block)
    {
        uint qh = Unsafe.ReadUnaligned<uint>(block + 4);
        var v = Vector128.Load(block + 8);
        var fifth = Vector128.Create((byte)0x10);
        return (Simd128.Low(v) | (Simd128.SpreadBits(qh) & fifth), Simd128.High(v) | (Simd128.SpreadBits(qh >> 16) & fifth));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Unpack256(byte* block) =>
        Simd256.Nibbles(block + 8) | (Simd256.SpreadBits(Unsafe.ReadUnaligned<uint>(block + 4)) & Vector256.Create((byte)0x10));

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src), m = Fp16.ToSingle(src + 2);
            var (lower, upper) = Unpack128(src);
            TStore.Store(dst, lower.AsSByte(), d, m);
            TStore.Store(dst + 16, upper.AsSByte(), d, m);
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(w + 4);
            sbyte* y = (sbyte*)(a + 4);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                int q = w[8 + j];
                isum += (q & 15 | (int)((qh >> j) & 1) << 4) * y[j];
                isum += (q >> 4 | (int)((qh >> (j + 16)) & 1) << 4) * y[j + 16];
            }
            sum += isum * (Fp16.ToSingle(w) * Fp16.ToSingle(a)) + Fp16.ToSingle(w + 2) * Fp16.ToSingle(a + 2);
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        float offsets = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            var (lower, upper) = Unpack128(w);
            var i = TDot.MultiplyAdd(Vector128<int>.Zero, lower, Vector128.Load((sbyte*)(a + 4)));
            i = TDot.MultiplyAdd(i, upper, Vector128.Load((sbyte*)(a + 20)));
            acc += Vector128.ConvertToSingle(i) * Vector128.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a));
            offsets += Fp16.ToSingle(w + 2) * Fp16.ToSingle(a + 2);
        }
        return Vector128.Sum(acc) + offsets;
    }

    /// <summary>Integer block dots for the shared 8-block drivers in <see cref="Block32Dot"/>.</summary>
    internal readonly struct Blocks : IBlock32Tile
    {
        public static int WeightBlockBytes => Block;
        public static int ActivationBlockBytes => ActBlock;
        public static int ActivationQuantsAt => 4;
        public static bool HasOffset => true;
        public static byte Bias => 0;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> Unsigned(byte* w) => Unpack256(w);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256 =>
            TDot.MultiplyAdd(Vector256<int>.Zero, Unpack256(w), Vector256.Load((sbyte*)(a + 4)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot512(byte* w, byte* a) =>
            Simd512.MultiplyAdd(Vector512<int>.Zero,
                Simd512.Combine(Unpack256(w), Unpack256(w + Block)),
                Simd512.Combine(Vector256.Load((sbyte*)(a + 4)), Vector256.Load((sbyte*)(a + ActBlock + 4))));
    }
}

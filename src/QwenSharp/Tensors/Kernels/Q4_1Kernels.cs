using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q4_1 weights: 20-byte blocks of 32 (fp16 d, fp16 m, qs[16], nibbles as Q4_0); value = q·d + m.
/// Dotted with Q8_1 activations (fp16 d, fp16 s = d·Σq, int8 q[32]): per block d_w·d_a·Σ q·q_a + m·s.</summary>
internal static unsafe class Q4_1Kernels
{
    private const int Block = 20;
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
            for (int j = 0; j < 16; j++)
            {
                int q = src[4 + j];
                dst[j] = (q & 15) * d + m;
                dst[j + 16] = (q >> 4) * d + m;
            }
        }
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src), m = Fp16.ToSingle(src + 2);
            var v = Vector128.Load(src + 4);
            TStore.Store(dst, Simd128.Low(v).AsSByte(), d, m);
            TStore.Store(dst + 16, Simd128.High(v).AsSByte(), d, m);
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            sbyte* y = (sbyte*)(a + 4);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                int q = w[4 + j];
                isum += (q & 15) * y[j] + (q >> 4) * y[j + 16];
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
            var v = Vector128.Load(w + 4);
            var i = TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.Low(v), Vector128.Load((sbyte*)(a + 4)));
            i = TDot.MultiplyAdd(i, Simd128.High(v), Vector128.Load((sbyte*)(a + 20)));
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
        public static Vector256<byte> Unsigned(byte* w) => Simd256.Nibbles(w + 4);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256 =>
            TDot.MultiplyAdd(Vector256<int>.Zero, Simd256.Nibbles(w + 4), Vector256.Load((sbyte*)(a + 4)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot512(byte* w, byte* a) =>
            Simd512.MultiplyAdd(Vector512<int>.Zero,
                Simd512.Combine(Simd256.Nibbles(w + 4), Simd256.Nibbles(w + Block + 4)),
                Simd512.Combine(Vector256.Load((sbyte*)(a + 4)), Vector256.Load((sbyte*)(a + ActBlock + 4))));
    }
}

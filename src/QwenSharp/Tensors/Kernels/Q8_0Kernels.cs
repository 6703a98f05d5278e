using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q8_0 weights: 34-byte blocks of 32 (fp16 d, int8 q[32]; value = q·d), dotted with Q8_0 activations
/// (same layout): per block d_w·d_a·Σ q_w·q_a.</summary>
internal static unsafe class Q8_0Kernels
{
    private const int Block = 34;

    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Block32Dot.Dot512<Blocks>),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, AvxVnniInt8Dot>)
            .WithMatMul(&Block32Tile.MatMul<Blocks, AvxVnniInt8Dot>).WithMatVec(&PairedRows<Blocks, AvxVnniInt8Dot>.MatVec),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, Avx2Int8Dot>)
            .WithMatVec(&Block32Rows.MatVec),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            sbyte* q = (sbyte*)(src + 2);
            for (int j = 0; j < 32; j++) dst[j] = q[j] * d;
        }
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            TStore.Store(dst, Vector128.Load((sbyte*)(src + 2)), d);
            TStore.Store(dst + 16, Vector128.Load((sbyte*)(src + 18)), d);
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += Block)
        {
            sbyte* x = (sbyte*)(w + 2);
            sbyte* y = (sbyte*)(a + 2);
            int isum = 0;
            for (int j = 0; j < 32; j++) isum += x[j] * y[j];
            sum += isum * (Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < n / 32; b++, w += Block, a += Block)
        {
            var i = TDot.MultiplyAddSigned(Vector128<int>.Zero, Vector128.Load((sbyte*)(w + 2)), Vector128.Load((sbyte*)(a + 2)));
            i = TDot.MultiplyAddSigned(i, Vector128.Load((sbyte*)(w + 18)), Vector128.Load((sbyte*)(a + 18)));
            acc += Vector128.ConvertToSingle(i) * Vector128.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return Vector128.Sum(acc);
    }

    /// <summary>Integer block dots for the shared 8-block drivers in <see cref="Block32Dot"/>.</summary>
    internal readonly struct Blocks : IPairedBlocks
    {
        public static int WeightBlockBytes => Block;
        public static int ActivationBlockBytes => Block;
        public static int ActivationQuantsAt => 2;
        public static bool HasOffset => false;
        public static byte Bias => 128;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> Unsigned(byte* w) => (Vector256.Load(w + 2) ^ Vector256.Create((byte)0x80));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256 =>
            Simd256.MultiplyAddSigned<TDot>(Vector256<int>.Zero, Vector256.Load((sbyte*)(w + 2)), Vector256.Load((sbyte*)(a + 2)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot512(byte* w, byte* a) =>
            Simd512.MultiplyAddSigned(Vector512<int>.Zero,
                Simd512.Combine(Vector256.Load((sbyte*)(w + 2)), Vector256.Load((sbyte*)(w + Block + 2))),
                Simd512.Combine(Vector256.Load((sbyte*)(a + 2)), Vector256.Load((sbyte*)(a + Block + 2))));

        /// <summary>Elements 0..15 of blocks k and k+4 in one vector, 16..31 in another, flipped to q + 128 for
        /// vpdpbusd's unsigned operand (only vpdpbusd: vpmaddubsw's 16-bit pair sums would saturate at 255·127·2).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Pair<TDot>(byte* w, int k, Vector256<sbyte> low, Vector256<sbyte> high) where TDot : IInt8Dot256
        {
            byte* x = w + k * Block + 2, y = w + (k + 4) * Block + 2;
            var flip = Vector256.Create((byte)0x80);
            var sums = TDot.MultiplyAdd(Vector256<int>.Zero, Vector256.Create(Vector128.Load(x), Vector128.Load(y)) ^ flip, low);
            return TDot.MultiplyAdd(sums, Vector256.Create(Vector128.Load(x + 16), Vector128.Load(y + 16)) ^ flip, high);
        }

        /// <summary>A pair's lanes hold sums of 8 products of up to 255·128 each, past 16 bits, so three vphaddd: the
        /// first two leave [block k partials ×2 | block k+1 partials ×2] per 128-bit half, the third block k in lane k.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Reduce(Vector256<int> d0, Vector256<int> d1, Vector256<int> d2, Vector256<int> d3) =>
            Avx2.HorizontalAdd(Avx2.HorizontalAdd(d0, d1), Avx2.HorizontalAdd(d2, d3));
    }
}

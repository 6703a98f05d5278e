using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q4_0 weights: 18-byte blocks of 32 (fp16 d, qs[16]); element j is the low nibble of qs[j], element
/// j+16 its high nibble; value = (q-8)·d. Dotted with Q8_0 activations: per block d_w·d_a·Σ (q-8)·q_a.</summary>
internal static unsafe class Q4_0Kernels
{
    private const int Block = 18;
    private const int ActBlock = 34;

    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Block32Dot.Dot512<Blocks>),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, AvxVnniInt8Dot>)
            .WithMatMul(&Block32Tile.MatMul<Blocks, AvxVnniInt8Dot>).WithMatVec(&PairedRows<Blocks, AvxVnniInt8Dot>.MatVec),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Block32Dot.Dot256<Blocks, Avx2Int8Dot>)
            .WithMatMul(&Block32Tile.MatMul<Blocks, Avx2Int8Dot>).WithMatVec(&PairedRows<Blocks, Avx2Int8Dot>.MatVec),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            for (int j = 0; j < 16; j++)
            {
                int q = src[2 + j];
                dst[j] = ((q & 15) - 8) * d;
                dst[j + 16] = ((q >> 4) - 8) * d;
            }
        }
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        var eight = Vector128.Create((sbyte)8);
        for (int b = 0; b < n / 32; b++, src += Block, dst += 32)
        {
            float d = Fp16.ToSingle(src);
            var v = Vector128.Load(src + 2);
            TStore.Store(dst, Simd128.Low(v).AsSByte() - eight, d);
            TStore.Store(dst + 16, Simd128.High(v).AsSByte() - eight, d);
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            sbyte* y = (sbyte*)(a + 2);
            int isum = 0;
            for (int j = 0; j < 16; j++)
            {
                int q = w[2 + j];
                isum += ((q & 15) - 8) * y[j] + ((q >> 4) - 8) * y[j + 16];
            }
            sum += isum * (Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        var eight = Vector128.Create((sbyte)8);
        for (int b = 0; b < n / 32; b++, w += Block, a += ActBlock)
        {
            var v = Vector128.Load(w + 2);
            var i = TDot.MultiplyAddSigned(Vector128<int>.Zero, Simd128.Low(v).AsSByte() - eight, Vector128.Load((sbyte*)(a + 2)));
            i = TDot.MultiplyAddSigned(i, Simd128.High(v).AsSByte() - eight, Vector128.Load((sbyte*)(a + 18)));
            acc += Vector128.ConvertToSingle(i) * Vector128.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a));
        }
        return Vector128.Sum(acc);
    }

    /// <summary>Integer block dots for the shared 8-block drivers in <see cref="Block32Dot"/>.</summary>
    internal readonly struct Blocks : IPairedBlocks
    {
        public static int WeightBlockBytes => Block;
        public static int ActivationBlockBytes => ActBlock;
        public static int ActivationQuantsAt => 2;
        public static bool HasOffset => false;
        public static byte Bias => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<byte> Unsigned(byte* w) => Simd256.Nibbles(w + 2);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256 =>
            Simd256.MultiplyAddSigned<TDot>(Vector256<int>.Zero, Simd256.Nibbles(w + 2).AsSByte() - Vector256.Create((sbyte)8), Vector256.Load((sbyte*)(a + 2)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot512(byte* w, byte* a) =>
            Simd512.MultiplyAddSigned(Vector512<int>.Zero,
                Simd512.Combine(Simd256.Nibbles(w + 2), Simd256.Nibbles(w + Block + 2)).AsSByte() - Vector512.Create((sbyte)8),
                Simd512.Combine(Vector256.Load((sbyte*)(a + 2)), Vector256.Load((sbyte*)(a + ActBlock + 2))));

        /// <summary>One 16-byte load holds both halves of a block: low nibbles are elements 0..15, high nibbles 16..31.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Pair<TDot>(byte* w, int k, Vector256<sbyte> low, Vector256<sbyte> high) where TDot : IInt8Dot256
        {
            var packed = Vector256.Create(Vector128.Load(w + k * Block + 2), Vector128.Load(w + (k + 4) * Block + 2));
            var mask = Vector256.Create((byte)0x0F);
            var sums = TDot.MultiplyAdd(Vector256<int>.Zero, packed & mask, low);
            return TDot.MultiplyAdd(sums, (packed.AsUInt16() >>> 4).AsByte() & mask, high);
        }

        /// <summary>A pair's lanes hold sums of at most 8 products (|·| ≤ 8·15·127 = 15240), so two levels of vpackssdw
        /// + vpmaddwd(1) do not saturate (a level-one lane is at most 30480) and leave block k's sum in lane k.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Reduce(Vector256<int> d0, Vector256<int> d1, Vector256<int> d2, Vector256<int> d3)
        {
            var one = Vector256<short>.One;
            var m01 = Avx2.MultiplyAddAdjacent(Avx2.PackSignedSaturate(d0, d1), one);
            var m23 = Avx2.MultiplyAddAdjacent(Avx2.PackSignedSaturate(d2, d3), one);
            return Avx2.MultiplyAddAdjacent(Avx2.PackSignedSaturate(m01, m23), one);
        }
    }
}

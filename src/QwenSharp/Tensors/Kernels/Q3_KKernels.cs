using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q3_K weights: 110-byte blocks of 256 (hmask[32], qs[64], 12 bytes of 6-bit scales, fp16 d). Element
/// 32j + l of half h (j 0..3, l 0..31) has low bits 2j..2j+1 of qs[32h + l] and its high bit at bit 4h + j of
/// hmask[l]; value = d·(sc - 32)·(q - 4) with q = low | high·4 in 0..7 and sc the 6-bit scale of sub-block
/// 8h + 2j + l/16. Dotted with Q8_K: d·d_a·Σ (sc-32)·(Σ q·q_a - 4·bsum).</summary>
internal static unsafe class Q3_KKernels
{
    private const int Block = 110;

    /// <summary>Both Vector256 rungs share one kernel (scales ride on vpmaddwd).</summary>
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantPackedTile.MatMul<Tile, KQuantPackedTile.PairScaled<KQuantPackedTile.Q3_KFinish>>),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantTile.MatMul<Tile, Avx2ScaledDotAdd>),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    /// <summary>Scale of sub-block k (already minus 32) from the four unpacked words.</summary>
    private static int Scale((uint S0, uint S1, uint S2, uint S3) words, int k)
    {
        uint word = (k >> 2) switch { 0 => words.S0, 1 => words.S1, 2 => words.S2, _ => words.S3 };
        return (int)((word >> (8 * (k & 3))) & 0xFF) - 32;
    }

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 108);
            var words = KQuantScales.UnpackQ3(src + 96);
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 4; j++)
                    for (int half = 0; half < 2; half++)
                    {
                        float dl = d * Scale(words, 8 * h + 2 * j + half);
                        byte* q = src + 32 + 32 * h + 16 * half;
                        byte* hm = src + 16 * half;
                        float* y = dst + 128 * h + 32 * j + 16 * half;
                        for (int l = 0; l < 16; l++)
                            y[l] = dl * (((q[l] >> (2 * j)) & 3 | ((hm[l] >> (4 * h + j)) & 1) << 2) - 4);
                    }
        }
    }

    /// <summary>Unsigned q (0..7) of 16 elements: low bits at 2j, high bit at bit k of the hmask bytes.</summary>
    private static Vector128<byte> Unsigned(Vector128<byte> qs, Vector128<byte> hmask, int j, int k) =>
        Simd128.Bits(qs, 2 * j, 3) | Simd128.ShiftLeftInBytes(Simd128.Bits(hmask, k, 1), 2);

    internal static Vector256<byte> Unsigned(Vector256<byte> qs, Vector256<byte> hmask, int j, int k) =>
        Simd256.Bits(qs, 2 * j, 3) | Simd256.ShiftLeftInBytes(Simd256.Bits(hmask, k, 1), 2);

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        var four = Vector128.Create((sbyte)4);
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 108);
            var words = KQuantScales.UnpackQ3(src + 96);
            var ha = Vector128.Load(src);
            var hb = Vector128.Load(src + 16);
            for (int h = 0; h < 2; h++)
            {
                var qa = Vector128.Load(src + 32 + 32 * h);
                var qb = Vector128.Load(src + 48 + 32 * h);
                for (int j = 0; j < 4; j++)
                {
                    float* y = dst + 128 * h + 32 * j;
                    TStore.Store(y, Unsigned(qa, ha, j, 4 * h + j).AsSByte() - four, d * Scale(words, 8 * h + 2 * j));
                    TStore.Store(y + 16, Unsigned(qb, hb, j, 4 * h + j).AsSByte() - four, d * Scale(words, 8 * h + 2 * j + 1));
                }
            }
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var words = KQuantScales.UnpackQ3(w + 96);
            int sumi = 0;
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 4; j++)
                    for (int half = 0; half < 2; half++)
                    {
                        byte* q = w + 32 + 32 * h + 16 * half;
                        byte* hm = w + 16 * half;
                        sbyte* yk = y + 128 * h + 32 * j + 16 * half;
                        int isum = 0;
                        for (int l = 0; l < 16; l++)
                            isum += (((q[l] >> (2 * j)) & 3 | ((hm[l] >> (4 * h + j)) & 1) << 2) - 4) * yk[l];
                        sumi += Scale(words, 8 * h + 2 * j + half) * isum;
                    }
            sum += *(float*)a * Fp16.ToSingle(w + 108) * sumi;
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        var four = Vector128.Create((sbyte)4);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var words = KQuantScales.UnpackQ3(w + 96);
            var ha = Vector128.Load(w);
            var hb = Vector128.Load(w + 16);
            var sumi = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var qa = Vector128.Load(w + 32 + 32 * h);
                var qb = Vector128.Load(w + 48 + 32 * h);
                for (int j = 0; j < 4; j++)
                {
                    sbyte* yj = y + 128 * h + 32 * j;
                    sumi += TDot.MultiplyAddSigned(Vector128<int>.Zero, Unsigned(qa, ha, j, 4 * h + j).AsSByte() - four, Vector128.Load(yj))
                            * Scale(words, 8 * h + 2 * j);
                    sumi += TDot.MultiplyAddSigned(Vector128<int>.Zero, Unsigned(qb, hb, j, 4 * h + j).AsSByte() - four, Vector128.Load(yj + 16))
                            * Scale(words, 8 * h + 2 * j + 1);
                }
            }
            acc += Vector128.ConvertToSingle(sumi) * Vector128.Create(*(float*)a * Fp16.ToSingle(w + 108));
        }
        return Vector128.Sum(acc);
    }

    /// <summary>4·Σ sc_k·bsum_k: the -4 offset of every element, folded through the activation block sums.</summary>
    private static Vector256<int> OffsetTerms(Vector128<sbyte> scales, byte* a) =>
        Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), Avx2.ConvertToVector256Int16(scales)) << 2;

    public static float Dot256(byte* w, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        var two = Vector128.Create((byte)2);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scales = KQuantScales.UnpackQ3Vector(w + 96);
            var hmask = Vector256.Load(w);
            var mask = Simd256.FirstPairMask;
            var sumi = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 32 + 32 * h);
                for (int j = 0; j < 4; j++, mask += two)
                    sumi += Simd256.ScaledDot(Unsigned(q, hmask, j, 4 * h + j), Vector256.Load(y + 128 * h + 32 * j), Simd256.PairScalesSigned(scales, mask));
            }
            sumi -= OffsetTerms(scales, a);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(*(float*)a * Fp16.ToSingle(w + 108)), acc);
        }
        return Simd256.Sum(acc);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc = Vector512<float>.Zero;
        var offsetAcc = Vector256<float>.Zero;
        var two = Vector128.Create((byte)2);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scales = KQuantScales.UnpackQ3Vector(w + 96);
            var hmask = Vector256.Load(w);
            var mask = Simd256.FirstPairMask;
            var sumi = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 32 + 32 * h);
                for (int j = 0; j < 4; j += 2, mask += two + two)
                {
                    var u = Simd512.Combine(Unsigned(q, hmask, j, 4 * h + j), Unsigned(q, hmask, j + 1, 4 * h + j + 1));
                    var scale = Simd512.Combine(Simd256.PairScalesSigned(scales, mask), Simd256.PairScalesSigned(scales, mask + two));
                    sumi += Simd512.ScaledDot(u, Vector512.Load(y + 128 * h + 32 * j), scale);
                }
            }
            float scale32 = *(float*)a * Fp16.ToSingle(w + 108);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(scale32), acc);
            offsetAcc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(OffsetTerms(scales, a)), Vector256.Create(-scale32), offsetAcc);
        }
        return Simd512.Sum(acc) + Simd256.Sum(offsetAcc);
    }

    /// <summary>The four-row tile (AVX2 rung; on the AVX-VNNI rung <see cref="KQuantPackedTile"/> packs the same prepared block), in <see cref="KQuantTile"/>'s pair-scaled layout.</summary>
    internal readonly struct Tile : IKQuantTile, IBlockFinish
    {
        public static int WeightBlockBytes => Block;
        public static int PreparedBlockBytes => KQuantTile.PairScaledBlockBytes;
        public static float Dot(byte* w, byte* a, int n) => Dot256(w, a, n);

        public static void Prepare(byte* w, byte* dst)
        {
            var scales = KQuantScales.UnpackQ3Vector(w + 96);
            var hmask = Vector256.Load(w);
            var mask = Simd256.FirstPairMask;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 32 + 32 * h);
                for (int j = 0; j < 4; j++) Unsigned(q, hmask, j, 4 * h + j).Store(dst + 128 * h + 32 * j);
            }
            for (int c = 0; c < 8; c++, mask += Vector128.Create((byte)2))
                Simd256.PairScalesSigned(scales, mask).Store((short*)(dst + KQuantTile.PairScalesAt + 32 * c));
            Avx2.ConvertToVector256Int16(scales).Store((short*)(dst + KQuantTile.CorrectionAt));
            *(float*)(dst + KQuantTile.DAt) = Fp16.ToSingle(w + 108);
        }

        public static void FourRows<TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd =>
            KQuantTile.FourRowsPairScaled<Tile, TScaled>(p, rowStride, blocks, a, o);

        /// <summary>Dot256's end of a block: minus the -4 offset terms, then + sumi·(d_a·d).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, byte* p)
        {
            sumi -= KQuantTile.Correction(bsums, p) << 2;
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * *(float*)(p + KQuantTile.DAt)), acc);
        }
    }
}

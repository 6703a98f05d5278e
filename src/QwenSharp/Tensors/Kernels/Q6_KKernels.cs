using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q6_K weights: 210-byte blocks of 256 (ql[128], qh[64], int8 scales[16], fp16 d last). Each half h
/// (128 elements) uses ql[64h..], qh[32h..]: element 32g + l (g 0..3, l 0..31) has its low 4 bits in the low
/// (g &lt; 2) or high (g ≥ 2) nibble of ql[l + 32·(g&amp;1)] and its top 2 bits at bits 2g of qh[l]; value =
/// d·sc·(q - 32) with sc = scales[8h + 2g + l/16]. Dotted with Q8_K: d·d_a·Σ sc·(Σ q·q_a - 32·bsum).</summary>
internal static unsafe class Q6_KKernels
{
    private const int Block = 210;

    /// <summary>Both Vector256 rungs share one kernel (scales ride on vpmaddwd).</summary>
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantPackedTile.MatMul<Tile, KQuantPackedTile.PairScaled<KQuantPackedTile.Q6_KFinish>>).WithMatVec(&Q6_KRows512.MatVec),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantTile.MatMul<Tile, Avx2ScaledDotAdd>).WithMatVec(&Q6_KRows<Avx2ScaledDotAdd>.MatVec),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    /// <summary>q - 32 of element 32g + l of half h.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Value(byte* ql, byte* qh, int g, int l)
    {
        int low = ql[l + 32 * (g & 1)];
        low = g < 2 ? low & 15 : low >> 4;
        return (low | ((qh[l] >> (2 * g)) & 3) << 4) - 32;
    }

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 208);
            for (int h = 0; h < 2; h++)
            {
                byte* ql = src + 64 * h;
                byte* qh = src + 128 + 32 * h;
                sbyte* sc = (sbyte*)(src + 192 + 8 * h);
                for (int g = 0; g < 4; g++)
                    for (int l = 0; l < 32; l++)
                        dst[128 * h + 32 * g + l] = d * sc[2 * g + l / 16] * Value(ql, qh, g, l);
            }
        }
    }

    /// <summary>The 16 values (q - 32) of piece p (elements 16p..16p+15 of a half): p = 2g + l/16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<sbyte> Piece(Vector128<byte> ql, Vector128<byte> qh, int g)
    {
        var low = g < 2 ? Simd128.Low(ql) : Simd128.High(ql);
        return (low | Simd128.ShiftLeftInBytes(Simd128.Bits(qh, 2 * g, 3), 4)).AsSByte() - Vector128.Create((sbyte)32);
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 208);
            for (int h = 0; h < 2; h++)
            {
                byte* ql = src + 64 * h;
                var qh0 = Vector128.Load(src + 128 + 32 * h);
                var qh1 = Vector128.Load(src + 144 + 32 * h);
                sbyte* sc = (sbyte*)(src + 192 + 8 * h);
                float* y = dst + 128 * h;
                for (int g = 0; g < 4; g++)
                {
                    byte* qlg = ql + 32 * (g & 1);
                    TStore.Store(y + 32 * g, Piece(Vector128.Load(qlg), qh0, g), d * sc[2 * g]);
                    TStore.Store(y + 32 * g + 16, Piece(Vector128.Load(qlg + 16), qh1, g), d * sc[2 * g + 1]);
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
            int sumi = 0;
            for (int h = 0; h < 2; h++)
            {
                byte* ql = w + 64 * h;
                byte* qh = w + 128 + 32 * h;
                sbyte* sc = (sbyte*)(w + 192 + 8 * h);
                for (int g = 0; g < 4; g++)
                    for (int half = 0; half < 2; half++)
                    {
                        int isum = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++) isum += Value(ql, qh, g, l) * y[128 * h + 32 * g + l];
                        sumi += sc[2 * g + half] * isum;
                    }
            }
            sum += *(float*)a * Fp16.ToSingle(w + 208) * sumi;
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var sumi = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                byte* ql = w + 64 * h;
                var qh0 = Vector128.Load(w + 128 + 32 * h);
                var qh1 = Vector128.Load(w + 144 + 32 * h);
                sbyte* sc = (sbyte*)(w + 192 + 8 * h);
                sbyte* yh = y + 128 * h;
                for (int g = 0; g < 4; g++)
                {
                    byte* qlg = ql + 32 * (g & 1);
                    sumi += TDot.MultiplyAddSigned(Vector128<int>.Zero, Piece(Vector128.Load(qlg), qh0, g), Vector128.Load(yh + 32 * g)) * sc[2 * g];
                    sumi += TDot.MultiplyAddSigned(Vector128<int>.Zero, Piece(Vector128.Load(qlg + 16), qh1, g), Vector128.Load(yh + 32 * g + 16)) * sc[2 * g + 1];
                }
            }
            acc += Vector128.ConvertToSingle(sumi) * Vector128.Create(*(float*)a * Fp16.ToSingle(w + 208));
        }
        return Vector128.Sum(acc);
    }

    /// <summary>The four unsigned 32-element groups (q in 0..63) of half h, element 32g + l with its low 4 bits in
    /// the low (g &lt; 2) or high (g ≥ 2) nibble of ql[64h + l + 32·(g &amp; 1)] and its top 2 bits at bits 2g of
    /// qh[32h + l].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (Vector256<byte>, Vector256<byte>, Vector256<byte>, Vector256<byte>) Groups(byte* block, int h)
    {
        var qlA = Vector256.Load(block + 64 * h);
        var qlB = Vector256.Load(block + 64 * h + 32);
        var qh = Vector256.Load(block + 128 + 32 * h);
        var nibble = Vector256.Create((byte)0x0F);
        return ((qlA & nibble) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 0, 3), 4),
                (qlB & nibble) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 2, 3), 4),
                Simd256.Bits(qlA, 4, 0x0F) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 4, 3), 4),
                Simd256.Bits(qlB, 4, 0x0F) | Simd256.ShiftLeftInBytes(Simd256.Bits(qh, 6, 3), 4));
    }

    /// <summary>32·Σ sc_k·bsum_k: the -32 offset of every element, folded through the activation block sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> OffsetTerms(Vector128<sbyte> scales, byte* a) =>
        Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), Avx2.ConvertToVector256Int16(scales)) << 5;

    public static float Dot256(byte* w, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scales = Vector128.Load((sbyte*)(w + 192));
            var mask = Simd256.FirstPairMask;
            var two = Vector128.Create((byte)2);
            var sumi = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var (q0, q1, q2, q3) = Groups(w, h);
                sbyte* yh = y + 128 * h;
                sumi += Simd256.ScaledDot(q0, Vector256.Load(yh), Simd256.PairScalesSigned(scales, mask));
                mask += two;
                sumi += Simd256.ScaledDot(q1, Vector256.Load(yh + 32), Simd256.PairScalesSigned(scales, mask));
                mask += two;
                sumi += Simd256.ScaledDot(q2, Vector256.Load(yh + 64), Simd256.PairScalesSigned(scales, mask));
                mask += two;
                sumi += Simd256.ScaledDot(q3, Vector256.Load(yh + 96), Simd256.PairScalesSigned(scales, mask));
                mask += two;
            }
            sumi -= OffsetTerms(scales, a);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(*(float*)a * Fp16.ToSingle(w + 208)), acc);
        }
        return Simd256.Sum(acc);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc = Vector512<float>.Zero;
        var offsetAcc = Vector256<float>.Zero;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scales = Vector128.Load((sbyte*)(w + 192));
            var mask = Simd256.FirstPairMask;
            var two = Vector128.Create((byte)2);
            var sumi = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var (q0, q1, q2, q3) = Groups(w, h);
                sbyte* yh = y + 128 * h;
                var s0 = Simd256.PairScalesSigned(scales, mask);
                var s1 = Simd256.PairScalesSigned(scales, mask + two);
                var s2 = Simd256.PairScalesSigned(scales, mask + two + two);
                var s3 = Simd256.PairScalesSigned(scales, mask + two + two + two);
                mask += Vector128.Create((byte)8);
                sumi += Simd512.ScaledDot(Simd512.Combine(q0, q1), Vector512.Load(yh), Simd512.Combine(s0, s1));
                sumi += Simd512.ScaledDot(Simd512.Combine(q2, q3), Vector512.Load(yh + 64), Simd512.Combine(s2, s3));
            }
            float scale = *(float*)a * Fp16.ToSingle(w + 208);
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(scale), acc);
            offsetAcc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(OffsetTerms(scales, a)), Vector256.Create(-scale), offsetAcc);
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
            var scales = Vector128.Load((sbyte*)(w + 192));
            var mask = Simd256.FirstPairMask;
            for (int h = 0; h < 2; h++)
            {
                var (q0, q1, q2, q3) = Groups(w, h);
                q0.Store(dst + 128 * h);
                q1.Store(dst + 128 * h + 32);
                q2.Store(dst + 128 * h + 64);
                q3.Store(dst + 128 * h + 96);
            }
            for (int c = 0; c < 8; c++, mask += Vector128.Create((byte)2))
                Simd256.PairScalesSigned(scales, mask).Store((short*)(dst + KQuantTile.PairScalesAt + 32 * c));
            Avx2.ConvertToVector256Int16(scales).Store((short*)(dst + KQuantTile.CorrectionAt));
            *(float*)(dst + KQuantTile.DAt) = Fp16.ToSingle(w + 208);
        }

        public static void FourRows<TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd =>
            KQuantTile.FourRowsPairScaled<Tile, TScaled>(p, rowStride, blocks, a, o);

        /// <summary>Dot256's end of a block: minus the -32 offset terms, then + sumi·(d_a·d).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, byte* p)
        {
            sumi -= KQuantTile.Correction(bsums, p) << 5;
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * *(float*)(p + KQuantTile.DAt)), acc);
        }
    }
}

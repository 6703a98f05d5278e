using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q2_K weights: 84-byte blocks of 256 (scales[16], qs[64], fp16 d, fp16 dmin). Each half h uses
/// qs[32h..32h+31]: element 32j + l (j 0..3, l 0..31) is bits 2j..2j+1 of qs[32h + l], in sub-block
/// k = 8h + 2j + l/16, whose byte scales[k] holds the scale (low nibble) and min (high nibble);
/// value = d·(sc&amp;15)·q - dmin·(sc&gt;&gt;4). Dotted with Q8_K: d_a·(d·Σ sc·Σq·q_a - dmin·Σ m·bsum).</summary>
internal static unsafe class Q2_KKernels
{
    private const int Block = 84;

    /// <summary>Both Vector256 rungs share one kernel (scales ride on vpmaddwd).</summary>
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantPackedTile.MatMul<Tile, KQuantPackedTile.PairScaled<KQuantPackedTile.UnchangedFinish<Tile>>>),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantTile.MatMul<Tile, Avx2ScaledDotAdd>),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 80), dmin = Fp16.ToSingle(src + 82);
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 4; j++)
                    for (int half = 0; half < 2; half++)
                    {
                        int sc = src[8 * h + 2 * j + half];
                        float dl = d * (sc & 15), ml = dmin * (sc >> 4);
                        byte* q = src + 16 + 32 * h + 16 * half;
                        float* y = dst + 128 * h + 32 * j + 16 * half;
                        for (int l = 0; l < 16; l++) y[l] = dl * ((q[l] >> (2 * j)) & 3) - ml;
                    }
        }
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src + 80), dmin = Fp16.ToSingle(src + 82);
            for (int h = 0; h < 2; h++)
            {
                var qa = Vector128.Load(src + 16 + 32 * h);
                var qb = Vector128.Load(src + 32 + 32 * h);
                for (int j = 0; j < 4; j++)
                {
                    int sa = src[8 * h + 2 * j], sb = src[8 * h + 2 * j + 1];
                    float* y = dst + 128 * h + 32 * j;
                    TStore.Store(y, Simd128.Bits(qa, 2 * j, 3).AsSByte(), d * (sa & 15), -(dmin * (sa >> 4)));
                    TStore.Store(y + 16, Simd128.Bits(qb, 2 * j, 3).AsSByte(), d * (sb & 15), -(dmin * (sb >> 4)));
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
            short* bsums = (short*)(a + SumsOffset);
            int sumi = 0, summ = 0;
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 4; j++)
                    for (int half = 0; half < 2; half++)
                    {
                        byte* q = w + 16 + 32 * h + 16 * half;
                        sbyte* yk = y + 128 * h + 32 * j + 16 * half;
                        int isum = 0;
                        for (int l = 0; l < 16; l++) isum += ((q[l] >> (2 * j)) & 3) * yk[l];
                        sumi += (w[8 * h + 2 * j + half] & 15) * isum;
                    }
            for (int k = 0; k < 16; k++) summ += (w[k] >> 4) * bsums[k];
            float da = *(float*)a;
            sum += da * Fp16.ToSingle(w + 80) * sumi - da * Fp16.ToSingle(w + 82) * summ;
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        float minTerm = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            short* bsums = (short*)(a + SumsOffset);
            var sumi = Vector128<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var qa = Vector128.Load(w + 16 + 32 * h);
                var qb = Vector128.Load(w + 32 + 32 * h);
                for (int j = 0; j < 4; j++)
                {
                    sbyte* yj = y + 128 * h + 32 * j;
                    sumi += TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.Bits(qa, 2 * j, 3), Vector128.Load(yj)) * (w[8 * h + 2 * j] & 15);
                    sumi += TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.Bits(qb, 2 * j, 3), Vector128.Load(yj + 16)) * (w[8 * h + 2 * j + 1] & 15);
                }
            }
            int summ = 0;
            for (int k = 0; k < 16; k++) summ += (w[k] >> 4) * bsums[k];
            float da = *(float*)a;
            acc += Vector128.ConvertToSingle(sumi) * Vector128.Create(da * Fp16.ToSingle(w + 80));
            minTerm += da * Fp16.ToSingle(w + 82) * summ;
        }
        return Vector128.Sum(acc) - minTerm;
    }

    /// <summary>Lane i: m_2i·bsum_2i + m_2i+1·bsum_2i+1.</summary>
    private static Vector256<int> MinTerms(Vector128<byte> scaleBytes, byte* a) =>
        Avx2.MultiplyAddAdjacent(Vector256.Load((short*)(a + SumsOffset)), Avx2.ConvertToVector256Int16(Simd128.High(scaleBytes)));

    public static float Dot256(byte* w, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        var two = Vector128.Create((byte)2);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scaleBytes = Vector128.Load(w);
            var scales = Simd128.Low(scaleBytes);
            var mask = Simd256.FirstPairMask;
            var sumi = Vector256<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 16 + 32 * h);
                for (int j = 0; j < 4; j++, mask += two)
                    sumi += Simd256.ScaledDot(Simd256.Bits(q, 2 * j, 3), Vector256.Load(y + 128 * h + 32 * j), Simd256.PairScalesUnsigned(scales, mask));
            }
            float da = *(float*)a;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * Fp16.ToSingle(w + 80)), acc);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinTerms(scaleBytes, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 82))), acc);
        }
        return Simd256.Sum(acc);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc = Vector512<float>.Zero;
        var minAcc = Vector256<float>.Zero;
        var two = Vector128.Create((byte)2);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var scaleBytes = Vector128.Load(w);
            var scales = Simd128.Low(scaleBytes);
            var mask = Simd256.FirstPairMask;
            var sumi = Vector512<int>.Zero;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 16 + 32 * h);
                for (int j = 0; j < 4; j += 2, mask += two + two)
                {
                    var u = Simd512.Combine(Simd256.Bits(q, 2 * j, 3), Simd256.Bits(q, 2 * j + 2, 3));
                    var scale = Simd512.Combine(Simd256.PairScalesUnsigned(scales, mask), Simd256.PairScalesUnsigned(scales, mask + two));
                    sumi += Simd512.ScaledDot(u, Vector512.Load(y + 128 * h + 32 * j), scale);
                }
            }
            float da = *(float*)a;
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(da * Fp16.ToSingle(w + 80)), acc);
            minAcc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MinTerms(scaleBytes, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 82))), minAcc);
        }
        return Simd512.Sum(acc) + Simd256.Sum(minAcc);
    }

    /// <summary>The four-row tile (AVX2 rung; on the AVX-VNNI rung <see cref="KQuantPackedTile"/> packs the same prepared block), in <see cref="KQuantTile"/>'s pair-scaled layout.</summary>
    internal readonly struct Tile : IKQuantTile, IBlockFinish
    {
        public static int WeightBlockBytes => Block;
        public static int PreparedBlockBytes => KQuantTile.PairScaledBlockBytes;
        public static float Dot(byte* w, byte* a, int n) => Dot256(w, a, n);

        public static void Prepare(byte* w, byte* dst)
        {
            var scaleBytes = Vector128.Load(w);
            var scales = Simd128.Low(scaleBytes);
            var mask = Simd256.FirstPairMask;
            for (int h = 0; h < 2; h++)
            {
                var q = Vector256.Load(w + 16 + 32 * h);
                for (int j = 0; j < 4; j++) Simd256.Bits(q, 2 * j, 3).Store(dst + 128 * h + 32 * j);
            }
            for (int c = 0; c < 8; c++, mask += Vector128.Create((byte)2))
                Simd256.PairScalesUnsigned(scales, mask).Store((short*)(dst + KQuantTile.PairScalesAt + 32 * c));
            Avx2.ConvertToVector256Int16(Simd128.High(scaleBytes)).Store((short*)(dst + KQuantTile.CorrectionAt));
            *(float*)(dst + KQuantTile.DAt) = Fp16.ToSingle(w + 80);
            *(float*)(dst + KQuantTile.DminAt) = Fp16.ToSingle(w + 82);
        }

        public static void FourRows<TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd =>
            KQuantTile.FourRowsPairScaled<Tile, TScaled>(p, rowStride, blocks, a, o);

        /// <summary>Dot256's end of a block: + sumi·(d_a·d), then + minTerms·-(d_a·dmin).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, byte* p)
        {
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * *(float*)(p + KQuantTile.DAt)), acc);
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(KQuantTile.Correction(bsums, p)), Vector256.Create(-(da * *(float*)(p + KQuantTile.DminAt))), acc);
        }
    }
}

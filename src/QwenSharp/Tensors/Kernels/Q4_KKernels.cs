using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q4_K weights: 144-byte blocks of 256 (fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, qs[128]).
/// Eight sub-blocks of 32; each 64-element chunk j uses qs[32j..32j+31], low nibbles for sub-block 2j and high
/// nibbles for 2j+1; value = d·sc·q - dmin·m. Dotted with Q8_K: d_a·(d·Σ sc·Σq·q_a - dmin·Σ m·bsum).</summary>
internal static unsafe class Q4_KKernels
{
    private const int Block = 144;

    /// <summary>Both Vector256 rungs share one kernel: the per-sub-block scales ride on vpmaddwd, which a VNNI
    /// dot would have to redo with a multiply.</summary>
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantPackedTile.MatMul<Tile, KQuantPackedTile.ScalePerPiece>).WithMatVec(&Q4_KRows<VnniScaledDotAdd>.MatVec),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantTile.MatMul<Tile, Avx2ScaledDotAdd>).WithMatVec(&Q4_KRows<Avx2ScaledDotAdd>.MatVec),
        KernelPath.Vector128Ssse3 => new(&Dequantize<FloatStore128>, &Dot128<Ssse3Int8Dot>),
        KernelPath.Vector128Portable => new(&Dequantize<FloatStore128>, &Dot128<PortableInt8Dot>),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src), dmin = Fp16.ToSingle(src + 2);
            var (scales, mins) = KQuantScales.UnpackScaleMin(src + 4);
            byte* q = src + 16;
            for (int j = 0; j < 4; j++, q += 32)
            {
                float d1 = d * KQuantScales.Byte(scales, 2 * j), m1 = dmin * KQuantScales.Byte(mins, 2 * j);
                float d2 = d * KQuantScales.Byte(scales, 2 * j + 1), m2 = dmin * KQuantScales.Byte(mins, 2 * j + 1);
                float* y = dst + 64 * j;
                for (int l = 0; l < 32; l++)
                {
                    y[l] = d1 * (q[l] & 15) - m1;
                    y[l + 32] = d2 * (q[l] >> 4) - m2;
                }
            }
        }
    }

    public static void Dequantize<TStore>(byte* src, float* dst, int n) where TStore : IFloatStore16
    {
        for (int b = 0; b < n / 256; b++, src += Block, dst += 256)
        {
            float d = Fp16.ToSingle(src), dmin = Fp16.ToSingle(src + 2);
            var (scales, mins) = KQuantScales.UnpackScaleMin(src + 4);
            for (int j = 0; j < 4; j++)
            {
                float d1 = d * KQuantScales.Byte(scales, 2 * j), m1 = dmin * KQuantScales.Byte(mins, 2 * j);
                float d2 = d * KQuantScales.Byte(scales, 2 * j + 1), m2 = dmin * KQuantScales.Byte(mins, 2 * j + 1);
                var qa = Vector128.Load(src + 16 + 32 * j);
                var qb = Vector128.Load(src + 32 + 32 * j);
                float* y = dst + 64 * j;
                TStore.Store(y, Simd128.Low(qa).AsSByte(), d1, -m1);
                TStore.Store(y + 16, Simd128.Low(qb).AsSByte(), d1, -m1);
                TStore.Store(y + 32, Simd128.High(qa).AsSByte(), d2, -m2);
                TStore.Store(y + 48, Simd128.High(qb).AsSByte(), d2, -m2);
            }
        }
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            short* bsums = (short*)(a + SumsOffset);
            byte* q = w + 16;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 4; j++)
            {
                int lower = 0, upper = 0;
                for (int l = 0; l < 32; l++)
                {
                    lower += (q[32 * j + l] & 15) * y[64 * j + l];
                    upper += (q[32 * j + l] >> 4) * y[64 * j + 32 + l];
                }
                sumi += KQuantScales.Byte(scales, 2 * j) * lower + KQuantScales.Byte(scales, 2 * j + 1) * upper;
            }
            for (int k = 0; k < 8; k++) summ += KQuantScales.Byte(mins, k) * (bsums[2 * k] + bsums[2 * k + 1]);
            float da = *(float*)a;
            sum += da * Fp16.ToSingle(w) * sumi - da * Fp16.ToSingle(w + 2) * summ;
        }
        return sum;
    }

    public static float Dot128<TDot>(byte* w, byte* a, int n) where TDot : IInt8Dot128
    {
        var acc = Vector128<float>.Zero;
        float minTerm = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            short* bsums = (short*)(a + SumsOffset);
            var sumi = Vector128<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var qa = Vector128.Load(w + 16 + 32 * j);
                var qb = Vector128.Load(w + 32 + 32 * j);
                sbyte* yj = y + 64 * j;
                var lower = TDot.MultiplyAdd(TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.Low(qa), Vector128.Load(yj)), Simd128.Low(qb), Vector128.Load(yj + 16));
                var upper = TDot.MultiplyAdd(TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.High(qa), Vector128.Load(yj + 32)), Simd128.High(qb), Vector128.Load(yj + 48));
                sumi += lower * KQuantScales.Byte(scales, 2 * j) + upper * KQuantScales.Byte(scales, 2 * j + 1);
            }
            int summ = 0;
            for (int k = 0; k < 8; k++) summ += KQuantScales.Byte(mins, k) * (bsums[2 * k] + bsums[2 * k + 1]);
            float da = *(float*)a;
            acc += Vector128.ConvertToSingle(sumi) * Vector128.Create(da * Fp16.ToSingle(w));
            minTerm += da * Fp16.ToSingle(w + 2) * summ;
        }
        return Vector128.Sum(acc) - minTerm;
    }


    public static float Dot256(byte* w, byte* a, int n)
    {
        var acc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var sumi = Vector256<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 16 + 32 * j);
                sumi += Simd256.ScaledDot(q & nibble, Vector256.Load(y + 64 * j), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j)));
                sumi += Simd256.ScaledDot(Simd256.Bits(q, 4, 0x0F), Vector256.Load(y + 64 * j + 32), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j + 1)));
            }
            float da = *(float*)a;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * Fp16.ToSingle(w)), acc);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(KQuantScales.MinTerms(mins, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 2))), acc);
        }
        return Simd256.Sum(acc);
    }

    /// <summary>One 64-element chunk per step: low nibbles (sub-block 2j) in the low 256 bits, high nibbles in the high.</summary>
    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc = Vector512<float>.Zero;
        var minAcc = Vector256<float>.Zero;
        var nibble = Vector512.Create((byte)0x0F);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var sumi = Vector512<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 16 + 32 * j);
                var u = Simd512.Combine(q, (q.AsUInt16() >>> 4).AsByte()) & nibble;
                var scale = Simd512.Combine(Vector256.Create((short)KQuantScales.Byte(scales, 2 * j)), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j + 1)));
                sumi += Simd512.ScaledDot(u, Vector512.Load(y + 64 * j), scale);
            }
            float da = *(float*)a;
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(da * Fp16.ToSingle(w)), acc);
            minAcc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(KQuantScales.MinTerms(mins, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 2))), minAcc);
        }
        return Simd512.Sum(acc) + Simd256.Sum(minAcc);
    }

    /// <summary>The four-row tile (AVX2 rung; <see cref="KQuantPackedTile"/> packs the same prepared block on the AVX-VNNI rung), shared with Q5_K. A prepared block: 8 × 32 unsigned values (sub-block order), the
    /// eight scales as int16 (broadcast at use), the mins repeated per 16-element sum as an int16 vector, d, dmin.</summary>
    internal readonly struct Tile : IKQuantTile
    {
        internal const int ScalesAt = 256, MinsAt = 288, DAt = 320, DminAt = 324;
        public static int WeightBlockBytes => Block;
        public static int PreparedBlockBytes => 352;

        public static float Dot(byte* w, byte* a, int n) => Dot256(w, a, n);

        public static void Prepare(byte* w, byte* dst)
        {
            var nibble = Vector256.Create((byte)0x0F);
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 16 + 32 * j);
                (q & nibble).Store(dst + 64 * j);
                Simd256.Bits(q, 4, 0x0F).Store(dst + 64 * j + 32);
            }
            PrepareScales(w, dst);
        }

        /// <summary>The scale/min half of a prepared block (the same in Q5_K, whose block also starts with d,
        /// dmin and the 12 packed bytes).</summary>
        internal static void PrepareScales(byte* w, byte* dst)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            for (int k = 0; k < 8; k++) ((short*)(dst + ScalesAt))[k] = (short)KQuantScales.Byte(scales, k);
            var m = Vector128.CreateScalar(mins).AsByte();
            Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m)).Store((short*)(dst + MinsAt));
            *(float*)(dst + DAt) = Fp16.ToSingle(w);
            *(float*)(dst + DminAt) = Fp16.ToSingle(w + 2);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<short> Scale(byte* p, int k) => Vector256.Create(((short*)(p + ScalesAt))[k]);

        public static void FourRows<TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd
        {
            Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            byte* p1 = p + rowStride, p2 = p + 2 * rowStride, p3 = p + 3 * rowStride;
            for (int b = 0; b < blocks; b++, a += BlockBytes)
            {
                int off = b * 352;
                sbyte* y = (sbyte*)(a + QuantsOffset);
                Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int c = 0; c < 8; c++)
                {
                    var yc = Vector256.Load(y + 32 * c);
                    s0 = TScaled.Add(s0, Vector256.Load(p + off + 32 * c), yc, Scale(p + off, c));
                    s1 = TScaled.Add(s1, Vector256.Load(p1 + off + 32 * c), yc, Scale(p1 + off, c));
                    s2 = TScaled.Add(s2, Vector256.Load(p2 + off + 32 * c), yc, Scale(p2 + off, c));
                    s3 = TScaled.Add(s3, Vector256.Load(p3 + off + 32 * c), yc, Scale(p3 + off, c));
                }
                float da = *(float*)a;
                var bsums = Vector256.Load((short*)(a + SumsOffset));
                acc0 = Accumulate(acc0, s0, bsums, da, p + off);
                acc1 = Accumulate(acc1, s1, bsums, da, p1 + off);
                acc2 = Accumulate(acc2, s2, bsums, da, p2 + off);
                acc3 = Accumulate(acc3, s3, bsums, da, p3 + off);
            }
            o[0] = Simd256.Sum(acc0);
            o[1] = Simd256.Sum(acc1);
            o[2] = Simd256.Sum(acc2);
            o[3] = Simd256.Sum(acc3);
        }

        /// <summary>The two fused steps of Dot256 for one block: + sumi·(d_a·d), then + minTerms·-(d_a·dmin).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static Vector256<float> Accumulate(Vector256<float> acc, Vector256<int> sumi, Vector256<short> bsums, float da, byte* p)
        {
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * *(float*)(p + DAt)), acc);
            var minTerms = Avx2.MultiplyAddAdjacent(bsums, Vector256.Load((short*)(p + MinsAt)));
            return Fma.MultiplyAdd(Avx.ConvertToVector256Single(minTerms), Vector256.Create(-(da * *(float*)(p + DminAt))), acc);
        }
    }
}

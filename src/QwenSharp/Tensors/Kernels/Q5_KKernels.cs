using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q5_K weights: 176-byte blocks of 256 (fp16 d, fp16 dmin, 12 bytes of scales/mins as Q4_K, qh[32],
/// qs[128]). As Q4_K, plus a fifth bit: element l of sub-block k takes bit k of qh[l] (l in 0..31);
/// value = d·sc·q - dmin·m with q in 0..31.</summary>
internal static unsafe class Q5_KKernels
{
    private const int Block = 176;

    /// <summary>Both Vector256 rungs share one kernel (scales ride on vpmaddwd).</summary>
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize<FloatStore512>, &Dot512),
        KernelPath.Vector256AvxVnni => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantPackedTile.MatMul<Tile, KQuantPackedTile.ScalePerPiece>),
        KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize<FloatStore256>, &Dot256).WithMatMul(&KQuantTile.MatMul<Tile, Avx2ScaledDotAdd>),
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
            byte* qh = src + 16;
            byte* q = src + 48;
            for (int j = 0; j < 4; j++, q += 32)
            {
                float d1 = d * KQuantScales.Byte(scales, 2 * j), m1 = dmin * KQuantScales.Byte(mins, 2 * j);
                float d2 = d * KQuantScales.Byte(scales, 2 * j + 1), m2 = dmin * KQuantScales.Byte(mins, 2 * j + 1);
                float* y = dst + 64 * j;
                for (int l = 0; l < 32; l++)
                {
                    y[l] = d1 * ((q[l] & 15) + (((qh[l] >> (2 * j)) & 1) << 4)) - m1;
                    y[l + 32] = d2 * ((q[l] >> 4) + (((qh[l] >> (2 * j + 1)) & 1) << 4)) - m2;
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
            var ha = Vector128.Load(src + 16);
            var hb = Vector128.Load(src + 32);
            for (int j = 0; j < 4; j++)
            {
                float d1 = d * KQuantScales.Byte(scales, 2 * j), m1 = dmin * KQuantScales.Byte(mins, 2 * j);
                float d2 = d * KQuantScales.Byte(scales, 2 * j + 1), m2 = dmin * KQuantScales.Byte(mins, 2 * j + 1);
                var qa = Vector128.Load(src + 48 + 32 * j);
                var qb = Vector128.Load(src + 64 + 32 * j);
                float* y = dst + 64 * j;
                TStore.Store(y, (Simd128.Low(qa) | FifthBit(ha, 2 * j)).AsSByte(), d1, -m1);
                TStore.Store(y + 16, (Simd128.Low(qb) | FifthBit(hb, 2 * j)).AsSByte(), d1, -m1);
                TStore.Store(y + 32, (Simd128.High(qa) | FifthBit(ha, 2 * j + 1)).AsSByte(), d2, -m2);
                TStore.Store(y + 48, (Simd128.High(qb) | FifthBit(hb, 2 * j + 1)).AsSByte(), d2, -m2);
            }
        }
    }

    /// <summary>Bit k of each byte, moved to bit 4 (worth 16).</summary>
    private static Vector128<byte> FifthBit(Vector128<byte> qh, int k) => Simd128.ShiftLeftInBytes(Simd128.Bits(qh, k, 1), 4);

    private static Vector256<byte> FifthBit(Vector256<byte> qh, int k) => Simd256.ShiftLeftInBytes(Simd256.Bits(qh, k, 1), 4);

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            short* bsums = (short*)(a + SumsOffset);
            byte* qh = w + 16;
            byte* q = w + 48;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 4; j++)
            {
                int lower = 0, upper = 0;
                for (int l = 0; l < 32; l++)
                {
                    lower += ((q[32 * j + l] & 15) | ((qh[l] >> (2 * j)) & 1) << 4) * y[64 * j + l];
                    upper += ((q[32 * j + l] >> 4) | ((qh[l] >> (2 * j + 1)) & 1) << 4) * y[64 * j + 32 + l];
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
            var ha = Vector128.Load(w + 16);
            var hb = Vector128.Load(w + 32);
            var sumi = Vector128<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var qa = Vector128.Load(w + 48 + 32 * j);
                var qb = Vector128.Load(w + 64 + 32 * j);
                sbyte* yj = y + 64 * j;
                var lower = TDot.MultiplyAdd(TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.Low(qa) | FifthBit(ha, 2 * j), Vector128.Load(yj)),
                    Simd128.Low(qb) | FifthBit(hb, 2 * j), Vector128.Load(yj + 16));
                var upper = TDot.MultiplyAdd(TDot.MultiplyAdd(Vector128<int>.Zero, Simd128.High(qa) | FifthBit(ha, 2 * j + 1), Vector128.Load(yj + 32)),
                    Simd128.High(qb) | FifthBit(hb, 2 * j + 1), Vector128.Load(yj + 48));
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
            var qh = Vector256.Load(w + 16);
            var sumi = Vector256<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 48 + 32 * j);
                var lower = (q & nibble) | FifthBit(qh, 2 * j);
                var upper = Simd256.Bits(q, 4, 0x0F) | FifthBit(qh, 2 * j + 1);
                sumi += Simd256.ScaledDot(lower, Vector256.Load(y + 64 * j), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j)));
                sumi += Simd256.ScaledDot(upper, Vector256.Load(y + 64 * j + 32), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j + 1)));
            }
            float da = *(float*)a;
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sumi), Vector256.Create(da * Fp16.ToSingle(w)), acc);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(KQuantScales.MinTerms(mins, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 2))), acc);
        }
        return Simd256.Sum(acc);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc = Vector512<float>.Zero;
        var minAcc = Vector256<float>.Zero;
        var nibble = Vector256.Create((byte)0x0F);
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            var qh = Vector256.Load(w + 16);
            var sumi = Vector512<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 48 + 32 * j);
                var u = Vector512.Create((q & nibble) | FifthBit(qh, 2 * j), Simd256.Bits(q, 4, 0x0F) | FifthBit(qh, 2 * j + 1));
                var scale = Simd512.Combine(Vector256.Create((short)KQuantScales.Byte(scales, 2 * j)), Vector256.Create((short)KQuantScales.Byte(scales, 2 * j + 1)));
                sumi += Simd512.ScaledDot(u, Vector512.Load(y + 64 * j), scale);
            }
            float da = *(float*)a;
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(sumi), Vector512.Create(da * Fp16.ToSingle(w)), acc);
            minAcc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(KQuantScales.MinTerms(mins, a)), Vector256.Create(-(da * Fp16.ToSingle(w + 2))), minAcc);
        }
        return Simd512.Sum(acc) + Simd256.Sum(minAcc);
    }

    /// <summary>The four-row tile (AVX2 rung; <see cref="KQuantPackedTile"/> on the AVX-VNNI rung): Q4_K's, with the fifth bit merged in when the block is prepared.</summary>
    internal readonly struct Tile : IKQuantTile
    {
        public static int WeightBlockBytes => Block;
        public static int PreparedBlockBytes => Q4_KKernels.Tile.PreparedBlockBytes;
        public static float Dot(byte* w, byte* a, int n) => Dot256(w, a, n);

        public static void Prepare(byte* w, byte* dst)
        {
            var nibble = Vector256.Create((byte)0x0F);
            var qh = Vector256.Load(w + 16);
            for (int j = 0; j < 4; j++)
            {
                var q = Vector256.Load(w + 48 + 32 * j);
                ((q & nibble) | FifthBit(qh, 2 * j)).Store(dst + 64 * j);
                (Simd256.Bits(q, 4, 0x0F) | FifthBit(qh, 2 * j + 1)).Store(dst + 64 * j + 32);
            }
            Q4_KKernels.Tile.PrepareScales(w, dst);
        }

        public static void FourRows<TScaled>(byte* p, long rowStride, int blocks, byte* a, float* o) where TScaled : IScaledDotAdd =>
            Q4_KKernels.Tile.FourRows<TScaled>(p, rowStride, blocks, a, o);
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Activations;

/// <summary>Activations for the K-quants: Q8_K blocks of 256 (fp32 d, int8 q[256], int16 bsums[16]). llama.cpp's x86
/// build uses quantize_row_q8_K_ref: the scale comes from the signed value of largest magnitude (the first one if
/// tied), iscale = -127/max, q = min(127, round-half-even(iscale·x)), d = 1/iscale; an all-zero block stores d = 0.</summary>
internal static unsafe class Q8_KActivation
{
    public static delegate*<float*, byte*, int, void> For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => &Vector512Path,
        KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => &Vector256Path,
        KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => &Vector128Path,
        _ => &Scalar,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteZeroBlock(byte* block) => new Span<byte>(block, Q8_KLayout.BlockBytes).Clear();

    private static void Scalar(float* x, byte* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, x += 256, dst += Q8_KLayout.BlockBytes)
        {
            float max = 0, amax = 0;
            for (int j = 0; j < 256; j++)
            {
                float ax = Math.Abs(x[j]);
                if (ax > amax) { amax = ax; max = x[j]; }
            }
            if (amax == 0) { WriteZeroBlock(dst); continue; }
            float iscale = -127f / max;
            sbyte* q = (sbyte*)(dst + Q8_KLayout.QuantsOffset);
            short* bsums = (short*)(dst + Q8_KLayout.SumsOffset);
            for (int k = 0; k < 16; k++)
            {
                int sum = 0;
                for (int j = 16 * k; j < 16 * k + 16; j++)
                {
                    int v = Math.Min(127, (int)MathF.Round(iscale * x[j]));
                    q[j] = (sbyte)v;
                    sum += v;
                }
                bsums[k] = (short)sum;
            }
            *(float*)dst = 1f / iscale;
        }
    }

    private static void Vector128Path(float* x, byte* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, x += 256, dst += Q8_KLayout.BlockBytes)
        {
            var m = Vector128<float>.Zero;
            for (int j = 0; j < 256; j += 4) m = Vector128.MaxNative(m, Vector128.Abs(Vector128.Load(x + j)));
            float amax = Q8_0Activation.MaxAcross(m);
            if (amax == 0) { WriteZeroBlock(dst); continue; }
            var target = Vector128.Create(amax);
            int first = 0;
            for (int j = 0; j < 256; j += 4)
            {
                uint hits = Vector128.ExtractMostSignificantBits(Vector128.Equals(Vector128.Abs(Vector128.Load(x + j)), target));
                if (hits != 0) { first = j + BitOperations.TrailingZeroCount(hits); break; }
            }
            float iscale = -127f / x[first];
            var scale = Vector128.Create(iscale);
            var limit = Vector128.Create(127);
            sbyte* q = (sbyte*)(dst + Q8_KLayout.QuantsOffset);
            short* bsums = (short*)(dst + Q8_KLayout.SumsOffset);
            for (int k = 0; k < 16; k++)
            {
                float* xk = x + 16 * k;
                var i0 = Vector128.Min(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(xk) * scale)), limit);
                var i1 = Vector128.Min(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(xk + 4) * scale)), limit);
                var i2 = Vector128.Min(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(xk + 8) * scale)), limit);
                var i3 = Vector128.Min(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(xk + 12) * scale)), limit);
                Vector128.Narrow(Vector128.Narrow(i0, i1), Vector128.Narrow(i2, i3)).Store(q + 16 * k);
                bsums[k] = (short)Vector128.Sum(i0 + i1 + i2 + i3);
            }
            *(float*)dst = 1f / iscale;
        }
    }

    private static void Vector256Path(float* x, byte* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, x += 256, dst += Q8_KLayout.BlockBytes)
        {
            var m = Vector256<float>.Zero;
            for (int j = 0; j < 256; j += 8) m = Vector256.MaxNative(m, Vector256.Abs(Vector256.Load(x + j)));
            float amax = Q8_0Activation.MaxAcross(Vector128.MaxNative(m.GetLower(), m.GetUpper()));
            if (amax == 0) { WriteZeroBlock(dst); continue; }
            var target = Vector256.Create(amax);
            int first = 0;
            for (int j = 0; j < 256; j += 8)
            {
                uint hits = Vector256.ExtractMostSignificantBits(Vector256.Equals(Vector256.Abs(Vector256.Load(x + j)), target));
                if (hits != 0) { first = j + BitOperations.TrailingZeroCount(hits); break; }
            }
            float iscale = -127f / x[first];
            var scale = Vector256.Create(iscale);
            var limit = Vector256.Create(127);
            sbyte* q = (sbyte*)(dst + Q8_KLayout.QuantsOffset);
            short* bsums = (short*)(dst + Q8_KLayout.SumsOffset);
            for (int k = 0; k < 16; k += 2)
            {
                float* xk = x + 16 * k;
                var i0 = Vector256.Min(Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(Vector256.Load(xk) * scale)), limit);
                var i1 = Vector256.Min(Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(Vector256.Load(xk + 8) * scale)), limit);
                var i2 = Vector256.Min(Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(Vector256.Load(xk + 16) * scale)), limit);
                var i3 = Vector256.Min(Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(Vector256.Load(xk + 24) * scale)), limit);
                Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store(q + 16 * k);
                bsums[k] = (short)Vector256.Sum(i0 + i1);
                bsums[k + 1] = (short)Vector256.Sum(i2 + i3);
            }
            *(float*)dst = 1f / iscale;
        }
    }

    private static void Vector512Path(float* x, byte* dst, int n)
    {
        for (int b = 0; b < n / 256; b++, x += 256, dst += Q8_KLayout.BlockBytes)
        {
            var m = Vector512<float>.Zero;
            for (int j = 0; j < 256; j += 16) m = Vector512.MaxNative(m, Vector512.Abs(Vector512.Load(x + j)));
            var m256 = Vector256.MaxNative(m.GetLower(), m.GetUpper());
            float amax = Q8_0Activation.MaxAcross(Vector128.MaxNative(m256.GetLower(), m256.GetUpper()));
            if (amax == 0) { WriteZeroBlock(dst); continue; }
            var target = Vector512.Create(amax);
            int first = 0;
            for (int j = 0; j < 256; j += 16)
            {
                ulong hits = Vector512.ExtractMostSignificantBits(Vector512.Equals(Vector512.Abs(Vector512.Load(x + j)), target));
                if (hits != 0) { first = j + BitOperations.TrailingZeroCount(hits); break; }
            }
            float iscale = -127f / x[first];
            var scale = Vector512.Create(iscale);
            var limit = Vector512.Create(127);
            sbyte* q = (sbyte*)(dst + Q8_KLayout.QuantsOffset);
            short* bsums = (short*)(dst + Q8_KLayout.SumsOffset);
            for (int k = 0; k < 16; k++)
            {
                var i = Vector512.Min(Avx512F.ConvertToVector512Int32WithTruncation(Vector512.Round(Vector512.Load(x + 16 * k) * scale)), limit);
                Avx512F.ConvertToVector128SByte(i).Store(q + 16 * k);
                bsums[k] = (short)Vector512.Sum(i);
            }
            *(float*)dst = 1f / iscale;
        }
    }
}

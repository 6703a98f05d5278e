using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>F16 weights against F16 activations (llama.cpp rounds activations to fp16 for F16 weights); products
/// and sums in fp32.</summary>
internal static unsafe class F16Kernels
{
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Dequantize512, &Dot512),
        KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => new(&Dequantize256, &Dot256),
        KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => new(&Dequantize128, &Dot128),
        _ => new(&DequantizeScalar, &DotScalar),
    };

    public static void DequantizeScalar(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n; i++) dst[i] = Fp16.ToSingle(src + 2 * i);
    }

    public static void Dequantize128(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var (lower, upper) = Fp16.Load8Portable(src + 2 * i);
            lower.Store(dst + i);
            upper.Store(dst + i + 4);
        }
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static void Dequantize256(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) Fp16.Load8(src + 2 * i).Store(dst + i);
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static void Dequantize512(byte* src, float* dst, int n)
    {
        int i = 0;
        for (; i + 16 <= n; i += 16) Fp16.Load16(src + 2 * i).Store(dst + i);
        DequantizeScalar(src + 2 * i, dst + i, n - i);
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += Fp16.ToSingle(w + 2 * i) * Fp16.ToSingle(a + 2 * i);
        return sum;
    }

    public static float Dot128(byte* w, byte* a, int n)
    {
        var acc = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var (wl, wu) = Fp16.Load8Portable(w + 2 * i);
            var (al, au) = Fp16.Load8Portable(a + 2 * i);
            acc += wl * al + wu * au;
        }
        return Vector128.Sum(acc) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }

    public static float Dot256(byte* w, byte* a, int n)
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i), Fp16.Load8(a + 2 * i), acc0);
            acc1 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i + 16), Fp16.Load8(a + 2 * i + 16), acc1);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i), Fp16.Load8(a + 2 * i), acc0);
        return Simd256.Sum(acc0 + acc1) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i), Fp16.Load16(a + 2 * i), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i + 32), Fp16.Load16(a + 2 * i + 32), acc1);
        }
        for (; i + 16 <= n; i += 16) acc0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i), Fp16.Load16(a + 2 * i), acc0);
        return Simd512.Sum(acc0 + acc1) + DotScalar(w + 2 * i, a + 2 * i, n - i);
    }
}

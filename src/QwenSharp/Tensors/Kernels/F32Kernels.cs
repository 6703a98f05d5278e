using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>F32 weights against F32 activations (llama.cpp's vec_dot_type for F32 is F32).</summary>
internal static unsafe class F32Kernels
{
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new(&Copy, &Dot512),
        KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => new(&Copy, &Dot256),
        KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => new(&Copy, &Dot128),
        _ => new(&CopyScalar, &DotScalar),
    };

    /// <summary>Buffer.MemoryCopy is already vectorized for every rung.</summary>
    public static void Copy(byte* src, float* dst, int n) => Buffer.MemoryCopy(src, dst, (long)n * 4, (long)n * 4);

    public static void CopyScalar(byte* src, float* dst, int n)
    {
        float* s = (float*)src;
        for (int i = 0; i < n; i++) dst[i] = s[i];
    }

    public static float DotScalar(byte* w, byte* a, int n)
    {
        float* x = (float*)w, y = (float*)a;
        float sum = 0;
        for (int i = 0; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    public static float Dot128(byte* w, byte* a, int n)
    {
        float* x = (float*)w, y = (float*)a;
        var acc0 = Vector128<float>.Zero;
        var acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            acc0 += Vector128.Load(x + i) * Vector128.Load(y + i);
            acc1 += Vector128.Load(x + i + 4) * Vector128.Load(y + i + 4);
        }
        float sum = Vector128.Sum(acc0 + acc1);
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    public static float Dot256(byte* w, byte* a, int n)
    {
        float* x = (float*)w, y = (float*)a;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), acc1);
        }
        float sum = Simd256.Sum(acc0 + acc1);
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }

    public static float Dot512(byte* w, byte* a, int n)
    {
        float* x = (float*)w, y = (float*)a;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), Vector512.Load(y + i), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), Vector512.Load(y + i + 16), acc1);
        }
        float sum = Simd512.Sum(acc0 + acc1);
        for (; i < n; i++) sum += x[i] * y[i];
        return sum;
    }
}

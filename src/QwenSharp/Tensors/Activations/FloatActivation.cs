using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Activations;

/// <summary>Activations for float weights: F32 stays F32; F16 weights get activations rounded to fp16 and BF16
/// weights to bf16 (round to nearest even), stored in those 2-byte formats.</summary>
internal static unsafe class FloatActivation
{
    public static delegate*<float*, byte*, int, void> For(GgmlType activationType, KernelPath path) => activationType switch
    {
        GgmlType.F32 => &Copy,
        GgmlType.F16 => path switch
        {
            KernelPath.Vector512 => &F16Vector512,
            KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => &F16Vector256,
            KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => &F16Vector128,
            _ => &F16Scalar,
        },
        GgmlType.BF16 => path switch
        {
            KernelPath.Vector512 => &BF16Vector512,
            KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => &BF16Vector256,
            KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => &BF16Vector128,
            _ => &BF16Scalar,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(activationType)),
    };

    private static void Copy(float* x, byte* dst, int n) => Buffer.MemoryCopy(x, dst, (long)n * 4, (long)n * 4);

    private static void F16Scalar(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        for (int i = 0; i < n; i++) h[i] = Fp16.FromSingle(x[i]);
    }

    private static void F16Vector128(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 8 <= n; i += 8)
            Vector128.Narrow(Fp16.FromSingle(Vector128.Load(x + i)).AsUInt32(), Fp16.FromSingle(Vector128.Load(x + i + 4)).AsUInt32()).Store(h + i);
        F16Scalar(x + i, (byte*)(h + i), n - i);
    }

    private static void F16Vector256(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 16 <= n; i += 16)
            Vector256.Narrow(Fp16.FromSingle(Vector256.Load(x + i)).AsUInt32(), Fp16.FromSingle(Vector256.Load(x + i + 8)).AsUInt32()).Store(h + i);
        F16Scalar(x + i, (byte*)(h + i), n - i);
    }

    private static void F16Vector512(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 16 <= n; i += 16) Avx512F.ConvertToVector256UInt16(Fp16.FromSingle(Vector512.Load(x + i)).AsUInt32()).Store(h + i);
        F16Scalar(x + i, (byte*)(h + i), n - i);
    }

    private static void BF16Scalar(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        for (int i = 0; i < n; i++) h[i] = BFloat16.FromSingle(x[i]);
    }

    private static void BF16Vector128(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 8 <= n; i += 8)
            Vector128.Narrow(BFloat16.FromSingle(Vector128.Load(x + i)), BFloat16.FromSingle(Vector128.Load(x + i + 4))).Store(h + i);
        BF16Scalar(x + i, (byte*)(h + i), n - i);
    }

    private static void BF16Vector256(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 16 <= n; i += 16)
            Vector256.Narrow(BFloat16.FromSingle(Vector256.Load(x + i)), BFloat16.FromSingle(Vector256.Load(x + i + 8))).Store(h + i);
        BF16Scalar(x + i, (byte*)(h + i), n - i);
    }

    private static void BF16Vector512(float* x, byte* dst, int n)
    {
        ushort* h = (ushort*)dst;
        int i = 0;
        for (; i + 16 <= n; i += 16) Avx512F.ConvertToVector256UInt16(BFloat16.FromSingle(Vector512.Load(x + i))).Store(h + i);
        BF16Scalar(x + i, (byte*)(h + i), n - i);
    }
}

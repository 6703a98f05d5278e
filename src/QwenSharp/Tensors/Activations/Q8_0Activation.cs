using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Activations;

/// <summary>Activations for Q4_0/Q5_0/Q8_0 weights (Q8_0: fp16 d, int8 q[32]) and Q4_1/Q5_1 weights (Q8_1: fp16 d,
/// fp16 s, int8 q[32]). This is llama.cpp's x86 quantize_row_q8_0/q8_1 (the path an AVX2/AVX-512 build takes),
/// not the _ref file quantizer: d = amax/127, q = round-half-even(x · (127/amax)), s = fp16(d · Σq).</summary>
internal static unsafe class Q8_0Activation
{
    public static delegate*<float*, byte*, int, void> For(GgmlType activationType, KernelPath path)
    {
        bool withSum = activationType == GgmlType.Q8_1;
        return path switch
        {
            KernelPath.Vector512 => withSum ? &Q8_1Vector512 : &Q8_0Vector512,
            KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => withSum ? &Q8_1Vector256 : &Q8_0Vector256,
            KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => withSum ? &Q8_1Vector128 : &Q8_0Vector128,
            _ => withSum ? &Q8_1Scalar : &Q8_0Scalar,
        };
    }

    private static void Q8_0Scalar(float* x, byte* dst, int n) => Scalar(x, dst, n, false);
    private static void Q8_1Scalar(float* x, byte* dst, int n) => Scalar(x, dst, n, true);
    private static void Q8_0Vector128(float* x, byte* dst, int n) => Vector128Path(x, dst, n, false);
    private static void Q8_1Vector128(float* x, byte* dst, int n) => Vector128Path(x, dst, n, true);
    private static void Q8_0Vector256(float* x, byte* dst, int n) => Vector256Path(x, dst, n, false);
    private static void Q8_1Vector256(float* x, byte* dst, int n) => Vector256Path(x, dst, n, true);
    private static void Q8_0Vector512(float* x, byte* dst, int n) => Vector512Path(x, dst, n, false);
    private static void Q8_1Vector512(float* x, byte* dst, int n) => Vector512Path(x, dst, n, true);

    /// <summary>Writes the block header: fp16 d, and for Q8_1 fp16 s = d·Σq (float product, then rounded).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteHeader(byte* block, float d, bool withSum, int sum)
    {
        Unsafe.WriteUnaligned(block, Fp16.FromSingle(d));
        if (withSum) Unsafe.WriteUnaligned(block + 2, Fp16.FromSingle(d * sum));
    }

    private static void Scalar(float* x, byte* dst, int n, bool withSum)
    {
        int blockBytes = withSum ? 36 : 34;
        for (int b = 0; b < n / 32; b++, x += 32, dst += blockBytes)
        {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[j]));
            float id = amax != 0 ? 127f / amax : 0f;
            sbyte* q = (sbyte*)(dst + blockBytes - 32);
            int sum = 0;
            for (int j = 0; j < 32; j++)
            {
                int v = (int)MathF.Round(x[j] * id);   // MathF.Round rounds half to even, like vroundps(_MM_ROUND_NEAREST)
                q[j] = (sbyte)v;
                sum += v;
            }
            WriteHeader(dst, amax / 127f, withSum, sum);
        }
    }

    private static void Vector128Path(float* x, byte* dst, int n, bool withSum)
    {
        int blockBytes = withSum ? 36 : 34;
        for (int b = 0; b < n / 32; b++, x += 32, dst += blockBytes)
        {
            var m = Vector128<float>.Zero;
            for (int j = 0; j < 32; j += 4) m = Vector128.MaxNative(m, Vector128.Abs(Vector128.Load(x + j)));
            float amax = MaxAcross(m);
            var id = Vector128.Create(amax != 0 ? 127f / amax : 0f);
            var sums = Vector128<int>.Zero;
            sbyte* q = (sbyte*)(dst + blockBytes - 32);
            for (int j = 0; j < 32; j += 16)
            {
                var i0 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j) * id));
                var i1 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 4) * id));
                var i2 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 8) * id));
                var i3 = Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + j + 12) * id));
                sums += i0 + i1 + i2 + i3;
                Vector128.Narrow(Vector128.Narrow(i0, i1), Vector128.Narrow(i2, i3)).Store(q + j);
            }
            WriteHeader(dst, amax / 127f, withSum, Vector128.Sum(sums));
        }
    }

    private static void Vector256Path(float* x, byte* dst, int n, bool withSum)
    {
        int blockBytes = withSum ? 36 : 34;
        for (int b = 0; b < n / 32; b++, x += 32, dst += blockBytes)
        {
            var v0 = Vector256.Load(x);
            var v1 = Vector256.Load(x + 8);
            var v2 = Vector256.Load(x + 16);
            var v3 = Vector256.Load(x + 24);
            var m = Vector256.MaxNative(Vector256.MaxNative(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.MaxNative(Vector256.Abs(v2), Vector256.Abs(v3)));
            float amax = MaxAcross(Vector128.MaxNative(m.GetLower(), m.GetUpper()));
            var id = Vector256.Create(amax != 0 ? 127f / amax : 0f);
            var i0 = Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(v0 * id));
            var i1 = Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(v1 * id));
            var i2 = Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(v2 * id));
            var i3 = Avx.ConvertToVector256Int32WithTruncation(Vector256.Round(v3 * id));
            Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3)).Store((sbyte*)(dst + blockBytes - 32));
            WriteHeader(dst, amax / 127f, withSum, withSum ? Vector256.Sum(i0 + i1 + i2 + i3) : 0);
        }
    }

    private static void Vector512Path(float* x, byte* dst, int n, bool withSum)
    {
        int blockBytes = withSum ? 36 : 34;
        for (int b = 0; b < n / 32; b++, x += 32, dst += blockBytes)
        {
            var v0 = Vector512.Load(x);
            var v1 = Vector512.Load(x + 16);
            var m = Vector512.MaxNative(Vector512.Abs(v0), Vector512.Abs(v1));
            var m256 = Vector256.MaxNative(m.GetLower(), m.GetUpper());
            float amax = MaxAcross(Vector128.MaxNative(m256.GetLower(), m256.GetUpper()));
            var id = Vector512.Create(amax != 0 ? 127f / amax : 0f);
            var i0 = Avx512F.ConvertToVector512Int32WithTruncation(Vector512.Round(v0 * id));
            var i1 = Avx512F.ConvertToVector512Int32WithTruncation(Vector512.Round(v1 * id));
            sbyte* q = (sbyte*)(dst + blockBytes - 32);
            Avx512F.ConvertToVector128SByte(i0).Store(q);
            Avx512F.ConvertToVector128SByte(i1).Store(q + 16);
            WriteHeader(dst, amax / 127f, withSum, withSum ? Vector512.Sum(i0 + i1) : 0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float MaxAcross(Vector128<float> m)
    {
        m = Vector128.MaxNative(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        return Math.Max(m.GetElement(0), m.GetElement(1));
    }
}

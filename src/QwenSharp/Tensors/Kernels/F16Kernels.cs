using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>F16 weights against F16 activations (llama.cpp rounds activations to fp16 for F16 weights); products
/// and sums in fp32. Converting fp16 is the costly part here (no conversion intrinsics in .NET 10), so MatMulRows
/// converts each activation row to floats once (<see cref="WeightKernels.ExpandActivation"/>) and runs the
/// F16 × F32 form; both forms share one loop, so their results are bit-identical.</summary>
internal static unsafe class F16Kernels
{
    public static WeightKernels For(KernelPath path) => path switch
    {
        KernelPath.Vector512 => new WeightKernels(&Dequantize512, &Dot512<HalfActivation>, &Dequantize512, &Dot512<FloatActivation>)
            .WithMatMul(&FloatTile.MatMul<Tile>).WithMatVec(&F16Rows.MatVec512),
        KernelPath.Vector256AvxVnni or KernelPath.Vector256Avx2 => new WeightKernels(&Dequantize256, &Dot256<HalfActivation>, &Dequantize256, &Dot256<FloatActivation>)
            .WithMatVec(&F16Rows.MatVec256),
        KernelPath.Vector128Ssse3 or KernelPath.Vector128Portable => new(&Dequantize128, &Dot128<HalfActivation>, &Dequantize128, &Dot128<FloatActivation>),
        _ => new(&DequantizeScalar, &DotScalar<HalfActivation>, &DequantizeScalar, &DotScalar<FloatActivation>),
    };

    /// <summary>Reads activation element i (and the next 8/16) as floats, from fp16 or already-converted floats.</summary>
    internal interface IActivation
    {
        static abstract float Scalar(byte* a, int i);
        static abstract Vector512<float> Load16(byte* a, int i);
        static abstract Vector256<float> Load8(byte* a, int i);
        static abstract (Vector128<float>, Vector128<float>) Load8Portable(byte* a, int i);
    }

    internal readonly struct HalfActivation : IActivation
    {
        public static float Scalar(byte* a, int i) => Fp16.ToSingle(a + 2 * i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(byte* a, int i) => Fp16.Load16(a + 2 * i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* a, int i) => Fp16.Load8(a + 2 * i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector128<float>, Vector128<float>) Load8Portable(byte* a, int i) => Fp16.Load8Portable(a + 2 * i);
    }

    internal readonly struct FloatActivation : IActivation
    {
        public static float Scalar(byte* a, int i) => ((float*)a)[i];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(byte* a, int i) => Vector512.Load((float*)a + i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* a, int i) => Vector256.Load((float*)a + i);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector128<float>, Vector128<float>) Load8Portable(byte* a, int i) =>
            (Vector128.Load((float*)a + i), Vector128.Load((float*)a + i + 4));
    }

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

    internal static float ScalarTail<TActivation>(byte* w, byte* a, int start, int n) where TActivation : IActivation
    {
        float sum = 0;
        for (int i = start; i < n; i++) sum += Fp16.ToSingle(w + 2 * i) * TActivation.Scalar(a, i);
        return sum;
    }

    public static float DotScalar<TActivation>(byte* w, byte* a, int n) where TActivation : IActivation =>
        ScalarTail<TActivation>(w, a, 0, n);

    public static float Dot128<TActivation>(byte* w, byte* a, int n) where TActivation : IActivation
    {
        var acc = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var (wl, wu) = Fp16.Load8Portable(w + 2 * i);
            var (al, au) = TActivation.Load8Portable(a, i);
            acc += wl * al + wu * au;
        }
        return Vector128.Sum(acc) + ScalarTail<TActivation>(w, a, i, n);
    }

    public static float Dot256<TActivation>(byte* w, byte* a, int n) where TActivation : IActivation
    {
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i), TActivation.Load8(a, i), acc0);
            acc1 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i + 16), TActivation.Load8(a, i + 8), acc1);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(Fp16.Load8(w + 2 * i), TActivation.Load8(a, i), acc0);
        return Simd256.Sum(acc0 + acc1) + ScalarTail<TActivation>(w, a, i, n);
    }

    public static float Dot512<TActivation>(byte* w, byte* a, int n) where TActivation : IActivation
    {
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i), TActivation.Load16(a, i), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i + 32), TActivation.Load16(a, i + 16), acc1);
        }
        for (; i + 16 <= n; i += 16) acc0 = Avx512F.FusedMultiplyAdd(Fp16.Load16(w + 2 * i), TActivation.Load16(a, i), acc0);
        return Simd512.Sum(acc0 + acc1) + ScalarTail<TActivation>(w, a, i, n);
    }

    /// <summary>The Vector512 tile: rows converted in element order, as Dot512 reads them.</summary>
    internal readonly struct Tile : IFloatTile
    {
        public static void Expand(byte* src, float* dst, int n) => Dequantize512(src, dst, n);
        public static bool SixteenStep => true;
        public static float Tail(byte* w, byte* a, int start, int n) => ScalarTail<HalfActivation>(w, a, start, n);
        public static float Dot(byte* w, byte* a, int n) => Dot512<HalfActivation>(w, a, n);
    }
}

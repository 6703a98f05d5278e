using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>The integer part of one 32-element block type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against its 8-bit
/// activation block: the shared drivers below add the fp16 scales.</summary>
internal unsafe interface IBlock32Kernel
{
    static abstract int WeightBlockBytes { get; }
    static abstract int ActivationBlockBytes { get; }

    /// <summary>Whether the weight block carries an fp16 offset m at byte 2 that pairs with the activation's fp16
    /// s = d·Σq at byte 2 (Q4_1/Q5_1 with Q8_1): the block contributes m·s on top of d_w·d_a·Σ q·q_a.</summary>
    static abstract bool HasOffset { get; }

    /// <summary>Σ q_w·q_a of one block, spread over eight int32 lanes.</summary>
    static abstract Vector256<int> Dot256<TDot>(byte* w, byte* a) where TDot : IInt8Dot256;

    /// <summary>Two consecutive blocks: the first in the low 256 bits, the second in the high 256 bits.</summary>
    static abstract Vector512<int> Dot512(byte* w, byte* a);
}

/// <summary>Drivers for 32-element block dots. Eight blocks per step: their integer dots are reduced into one
/// vector (lane k = block k), and the sixteen fp16 scales are gathered and converted as two vectors, so no
/// per-block scalar fp16 conversion or broadcast is left in the loop. Leftover blocks go one at a time.</summary>
internal static unsafe class Block32Dot
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales<TKernel>(byte* w, byte* a, int offset) where TKernel : IBlock32Kernel =>
        Simd256.GatherHalves(w + offset, TKernel.WeightBlockBytes) * Simd256.GatherHalves(a + offset, TKernel.ActivationBlockBytes);

    public static float Dot256<TKernel, TDot>(byte* w, byte* a, int n) where TKernel : IBlock32Kernel where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        int blocks = n / 32, b = 0;
        var acc = Vector256<float>.Zero;
        var offsets = Vector256<float>.Zero;
        for (; b + 8 <= blocks; b += 8, w += 8 * wb, a += 8 * ab)
        {
            var sums = Simd256.SumEach(
                TKernel.Dot256<TDot>(w, a), TKernel.Dot256<TDot>(w + wb, a + ab),
                TKernel.Dot256<TDot>(w + 2 * wb, a + 2 * ab), TKernel.Dot256<TDot>(w + 3 * wb, a + 3 * ab),
                TKernel.Dot256<TDot>(w + 4 * wb, a + 4 * ab), TKernel.Dot256<TDot>(w + 5 * wb, a + 5 * ab),
                TKernel.Dot256<TDot>(w + 6 * wb, a + 6 * ab), TKernel.Dot256<TDot>(w + 7 * wb, a + 7 * ab));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Scales<TKernel>(w, a, 0), acc);
            if (TKernel.HasOffset) offsets += Scales<TKernel>(w, a, 2);
        }
        float sum = Simd256.Sum(acc) + (TKernel.HasOffset ? Simd256.Sum(offsets) : 0f);
        return sum + Tail256<TKernel, TDot>(w, a, blocks - b);
    }

    internal static float Tail256<TKernel, TDot>(byte* w, byte* a, int blocks) where TKernel : IBlock32Kernel where TDot : IInt8Dot256
    {
        var acc = Vector256<float>.Zero;
        float offsets = 0;
        for (int b = 0; b < blocks; b++, w += TKernel.WeightBlockBytes, a += TKernel.ActivationBlockBytes)
        {
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TKernel.Dot256<TDot>(w, a)), Vector256.Create(Fp16.ToSingle(w) * Fp16.ToSingle(a)), acc);
            if (TKernel.HasOffset) offsets += Fp16.ToSingle(w + 2) * Fp16.ToSingle(a + 2);
        }
        return Simd256.Sum(acc) + offsets;
    }

    public static float Dot512<TKernel>(byte* w, byte* a, int n) where TKernel : IBlock32Kernel
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        int blocks = n / 32, b = 0;
        var acc = Vector256<float>.Zero;
        var offsets = Vector256<float>.Zero;
        for (; b + 8 <= blocks; b += 8, w += 8 * wb, a += 8 * ab)
        {
            var p0 = TKernel.Dot512(w, a);
            var p1 = TKernel.Dot512(w + 2 * wb, a + 2 * ab);
            var p2 = TKernel.Dot512(w + 4 * wb, a + 4 * ab);
            var p3 = TKernel.Dot512(w + 6 * wb, a + 6 * ab);
            var sums = Simd256.SumEach(p0.GetLower(), p0.GetUpper(), p1.GetLower(), p1.GetUpper(),
                                       p2.GetLower(), p2.GetUpper(), p3.GetLower(), p3.GetUpper());
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Scales<TKernel>(w, a, 0), acc);
            if (TKernel.HasOffset) offsets += Scales<TKernel>(w, a, 2);
        }
        float sum = Simd256.Sum(acc) + (TKernel.HasOffset ? Simd256.Sum(offsets) : 0f);
        return sum + Tail256<TKernel, Avx2Int8Dot>(w, a, blocks - b);
    }
}

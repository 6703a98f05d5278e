using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenSharp.Tensors.Simd;

/// <summary>The rungs of the kernel ladder. Every kernel has one implementation per rung, so tests can run each
/// rung on a machine that has the widest one; production code uses <see cref="KernelPaths.Best"/>.</summary>
internal enum KernelPath
{
    /// <summary>Plain loops, any machine.</summary>
    Scalar,
    /// <summary>Vector128 with cross-platform operations only (ARM NEON, or x86 without SSSE3).</summary>
    Vector128Portable,
    /// <summary>Vector128 with SSSE3 byte multiply-add (pmaddubsw).</summary>
    Vector128Ssse3,
    /// <summary>Vector256 with AVX2 + FMA; byte dots through vpmaddubsw + vpmaddwd.</summary>
    Vector256Avx2,
    /// <summary>Vector256 with AVX2 + FMA; unscaled byte dots through AVX-VNNI vpdpbusd.</summary>
    Vector256AvxVnni,
    /// <summary>Vector512 with AVX-512 F + BW (.NET 10 exposes no 512-bit VNNI, so byte dots use vpmaddubsw).</summary>
    Vector512,
}

internal static class KernelPaths
{
    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Vector128Portable => Vector128.IsHardwareAccelerated,
        KernelPath.Vector128Ssse3 => Ssse3.IsSupported && Sse41.IsSupported,
        KernelPath.Vector256Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.Vector256AvxVnni => Avx2.IsSupported && Fma.IsSupported && AvxVnni.IsSupported,
        KernelPath.Vector512 => Avx512F.IsSupported && Avx512BW.IsSupported && Avx2.IsSupported && Fma.IsSupported,
        _ => false,
    };

    /// <summary>The widest rung this machine runs, chosen once.</summary>
    public static KernelPath Best { get; } = Detect();

    /// <summary>The rung for byte-dot (quantized) kernels. .NET 10 exposes AVX-VNNI only at 256 bits, and one
    /// 256-bit vpdpbusd does what a 512-bit vpmaddubsw + vpmaddwd pair does for half the bytes, so where AVX-VNNI
    /// exists the Vector256 kernels are the faster ones (measured: 0.64 vs 0.85 ms for a 2048×4096 Q4_0 matvec,
    /// 0.46 vs 0.58 ms for Q6_K). Float kernels (F32/F16/BF16) keep <see cref="Best"/>.</summary>
    public static KernelPath BestForByteDots { get; } =
        IsSupported(KernelPath.Vector256AvxVnni) ? KernelPath.Vector256AvxVnni : Detect();

    public static IEnumerable<KernelPath> All => Enum.GetValues<KernelPath>();

    private static KernelPath Detect()
    {
        foreach (var path in new[] { KernelPath.Vector512, KernelPath.Vector256AvxVnni, KernelPath.Vector256Avx2,
                     KernelPath.Vector128Ssse3, KernelPath.Vector128Portable })
            if (IsSupported(path)) return path;
        return KernelPath.Scalar;
    }
}

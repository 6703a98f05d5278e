using QwenSharp.Tensors;
using QwenSharp.Tests.Tensors;

namespace QwenSharp.Bench.Micro;

/// <summary>Weight rows for kernel microbenchmarks that look like a real checkpoint's: Gaussian weights of standard
/// deviation 0.02 quantized by QwenSharp's own quantizer, so block scales land where real ones do (Q6_K's d around
/// 1e-5, an fp16 subnormal). TensorTestData.RandomRow's random scales are right for correctness tests but hid a
/// microcode assist on subnormal scales that made the Q6_K decode kernel 3x slower in a real decode.
/// Types the quantizer cannot write fall back to RandomRow.</summary>
internal static class CheckpointLikeRows
{
    public static byte[] Row(GgmlType type, int n, Random rng)
    {
        if (!RowQuantizer.CanQuantize(type) || RowQuantizer.FitRow(type, n) != type) return TensorTestData.RandomRow(type, n, rng);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = TensorTestData.Gaussian(rng) * 0.02f;
        var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
        RowQuantizer.Row(type, values, row);
        return row;
    }

    /// <summary>A pinned rows × n matrix of such rows, and one activation row quantized for it, as the batch-1
    /// microbenchmarks use them.</summary>
    public static (byte[] Weights, byte[] Activation) MatVecOperands(GgmlType type, int rows, int n, Random rng)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, n);
        var weights = GC.AllocateUninitializedArray<byte>(checked((int)(rows * rowBytes)), pinned: true);
        for (int r = 0; r < rows; r++) Row(type, n, rng).CopyTo(weights, r * rowBytes);
        var activation = new byte[VecDot.ActivationRowBytes(type, n)];
        VecDot.QuantizeActivation(type, TensorTestData.RandomActivations(n, rng), activation);
        return (weights, activation);
    }
}

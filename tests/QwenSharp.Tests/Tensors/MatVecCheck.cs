using QwenSharp.Tensors;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>The decode contract, shared by the batch-1 kernel tests: MatMulRows at batch 1 over a row range writes
/// exactly the rows of that range, each bit-identical to the single-row Dot of the same rung.</summary>
internal static unsafe class MatVecCheck
{
    public static void RowsMatchDot(GgmlType weightType, KernelPath path, int n, int rows, (int Start, int End)[] rowRanges,
                                    Func<int, byte[]> row, float[] x)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n), actBytes = VecDot.ActivationRowBytes(weightType, n);
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) row(r).CopyTo(weights, r * rowBytes);
        var activation = new byte[actBytes];
        VecDot.QuantizeActivation(weightType, x, activation, path);
        var output = new float[rows + 1];
        fixed (byte* pw = weights, pa = activation)
        fixed (float* po = output)
            foreach (var (start, end) in rowRanges)
            {
                Array.Fill(output, float.NaN);
                VecDot.MatMulRows(weightType, pw, n, start, end, pa, 1, po, rows, path);
                for (int r = 0; r <= rows; r++)
                {
                    float got = output[r];
                    if (r < start || r >= end)
                        Assert.True(float.IsNaN(got), $"n {n}, rows [{start}, {end}): row {r} outside the call was written");
                    else
                    {
                        float expected = VecDot.Dot(weightType, pw + r * rowBytes, pa, n, path);
                        // a NaN's payload is not part of the contract (an add returns whichever NaN operand comes
                        // first, and the JIT may swap a commutative add's operands between tiers)
                        if (float.IsNaN(expected)) { Assert.True(float.IsNaN(got), $"{weightType} n {n}: row {r} = {got:R}, single-row dot NaN"); continue; }
                        Assert.True(BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(expected),
                                    $"{weightType} n {n}, rows [{start}, {end}): row {r} = {got:R} ({BitConverter.SingleToInt32Bits(got):X8}), single-row dot {expected:R} ({BitConverter.SingleToInt32Bits(expected):X8})");
                    }
                }
            }
    }

    /// <summary>MatMulRows over all rows at once with a batch of ±1 activations (sign pattern (b + i) % 3): every
    /// output bit-identical to the single-row Dot of that (row, activation) pair.</summary>
    public static void ExtremeBatchMatchesDot(GgmlType weightType, KernelPath path, int n, int rows, int batch, byte[] weights)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n), actBytes = VecDot.ActivationRowBytes(weightType, n);
        var activations = new byte[batch * actBytes];
        for (int b = 0; b < batch; b++)
        {
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = (b + i) % 3 == 0 ? -1f : 1f;
            VecDot.QuantizeActivation(weightType, x, activations.AsSpan((int)(b * actBytes), (int)actBytes), path);
        }
        var output = new float[batch * rows];
        fixed (byte* pw = weights, pa = activations)
        fixed (float* po = output)
        {
            VecDot.MatMulRows(weightType, pw, n, 0, rows, pa, batch, po, rows, path);
            for (int b = 0; b < batch; b++)
                for (int r = 0; r < rows; r++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(VecDot.Dot(weightType, pw + r * rowBytes, pa + b * actBytes, n, path)),
                                 BitConverter.SingleToInt32Bits(output[b * rows + r]));
        }
    }

    /// <summary>A batch-1 kernel called directly (for a form the dispatch does not reach on this machine, e.g. the
    /// ymm kernel of a rung whose AVX-512 form runs instead): over rows [1, rows - 1), every output bit-identical to
    /// <paramref name="dot"/> of that row (NaN only needs to be NaN), and rows 0 and rows - 1 left alone.</summary>
    public static void KernelMatchesDot(GgmlType weightType, KernelPath activationPath, int n, int rows, Func<int, byte[]> row, float[] x,
                                        delegate*<byte*, int, int, int, byte*, float*, void> kernel, delegate*<byte*, byte*, int, float> dot)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n);
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) row(r).CopyTo(weights, r * rowBytes);
        var activation = new byte[VecDot.ActivationRowBytes(weightType, n)];
        VecDot.QuantizeActivation(weightType, x, activation, activationPath);
        var output = new float[rows];
        Array.Fill(output, float.NaN);
        fixed (byte* pw = weights, pa = activation)
        fixed (float* po = output)
        {
            kernel(pw, n, 1, rows - 1, pa, po);
            Assert.True(float.IsNaN(output[0]) && float.IsNaN(output[rows - 1]), "a row outside the call was written");
            for (int r = 1; r < rows - 1; r++)
            {
                float expected = dot(pw + r * rowBytes, pa, n);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(output[r]), $"{weightType} n {n}: row {r} = {output[r]:R}, dot NaN");
                else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(output[r]),
                                 $"{weightType} n {n}: row {r} = {output[r]:R}, dot {expected:R}");
            }
        }
    }
}

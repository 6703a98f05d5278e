namespace QwenSharp.Tensors.Kernels;

/// <summary>One rung's kernels for one weight type, as function pointers chosen once (no per-call dispatch).</summary>
internal readonly unsafe struct WeightKernels
{
    /// <summary>(src, dst, n): n elements, a whole number of blocks.</summary>
    public readonly delegate*<byte*, float*, int, void> Dequantize;

    /// <summary>(weight row, activation row quantized for this weight type, n) -> dot product.</summary>
    public readonly delegate*<byte*, byte*, int, float> Dot;

    public WeightKernels(delegate*<byte*, float*, int, void> dequantize, delegate*<byte*, byte*, int, float> dot)
    {
        Dequantize = dequantize;
        Dot = dot;
    }
}

namespace QwenSharp.Tensors.Kernels;

/// <summary>One rung's kernels for one weight type, as function pointers chosen once (no per-call dispatch).</summary>
internal readonly unsafe struct WeightKernels
{
    /// <summary>(src, dst, n): n elements, a whole number of blocks.</summary>
    public readonly delegate*<byte*, float*, int, void> Dequantize;

    /// <summary>(weight row, activation row quantized for this weight type, n) -> dot product.</summary>
    public readonly delegate*<byte*, byte*, int, float> Dot;

    /// <summary>Optional, for types whose activations are costly to read in every dot (F16): converts one
    /// activation row to floats, which <see cref="DotExpanded"/> then takes in place of the activation row.
    /// MatMulRows does this once per activation; results are bit-identical to <see cref="Dot"/>.</summary>
    public readonly delegate*<byte*, float*, int, void> ExpandActivation;

    public readonly delegate*<byte*, byte*, int, float> DotExpanded;

    /// <summary>Optional multi-row × multi-activation kernel with MatMulRows' contract (weights, n, rowStart, rowEnd,
    /// activations, batch, output, outputStride); its every output is bit-identical to <see cref="Dot"/> of that pair.</summary>
    public readonly delegate*<byte*, int, int, int, byte*, int, float*, int, void> MatMul;

    /// <summary>Optional batch-1 kernel (weights, n, rowStart, rowEnd, activation, output): output[r] for r in
    /// [rowStart, rowEnd), several rows per pass; each output bit-identical to <see cref="Dot"/>.</summary>
    public readonly delegate*<byte*, int, int, int, byte*, float*, void> MatVec;

    public WeightKernels(delegate*<byte*, float*, int, void> dequantize, delegate*<byte*, byte*, int, float> dot)
    {
        Dequantize = dequantize;
        Dot = dot;
    }

    public WeightKernels(delegate*<byte*, float*, int, void> dequantize, delegate*<byte*, byte*, int, float> dot,
                         delegate*<byte*, float*, int, void> expandActivation, delegate*<byte*, byte*, int, float> dotExpanded)
        : this(dequantize, dot)
    {
        ExpandActivation = expandActivation;
        DotExpanded = dotExpanded;
    }

    private WeightKernels(in WeightKernels other, delegate*<byte*, float*, int, void> dequantize,
                          delegate*<byte*, int, int, int, byte*, int, float*, int, void> matMul,
                          delegate*<byte*, int, int, int, byte*, float*, void> matVec)
        : this(dequantize, other.Dot, other.ExpandActivation, other.DotExpanded)
    {
        MatMul = matMul;
        MatVec = matVec;
    }

    /// <summary>These kernels with the dequantizer of another rung.</summary>
    public WeightKernels WithDequantize(delegate*<byte*, float*, int, void> dequantize) => new(this, dequantize, MatMul, MatVec);

    /// <summary>These kernels with a multi-row × multi-activation MatMulRows kernel.</summary>
    public WeightKernels WithMatMul(delegate*<byte*, int, int, int, byte*, int, float*, int, void> matMul) => new(this, Dequantize, matMul, MatVec);

    /// <summary>These kernels with a batch-1 multi-row MatMulRows kernel.</summary>
    public WeightKernels WithMatVec(delegate*<byte*, int, int, int, byte*, float*, void> matVec) => new(this, Dequantize, MatMul, matVec);
}

namespace QwenSharp.Tensors;

/// <summary>How a weight matrix's blocks are ordered in memory.</summary>
public enum WeightLayout
{
    /// <summary>As in GGUF: each row's blocks contiguous, rows one after another.</summary>
    Rows,

    /// <summary>Q4_0, Q8_0, Q4_K or Q6_K repacked at load for the decode kernel: groups of eight rows (Q6_K: four),
    /// block by block (same size; see Kernels/Interleaved8.cs, Kernels/Q4_KInterleaved8.cs, Kernels/Q6_KInterleaved.cs). Only <see cref="VecDot.MatMulRows(GgmlType, WeightLayout, byte*, int, int, int, byte*, int, float*, int)"/>
    /// reads it.</summary>
    Interleaved8,
}

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q8_K activation blocks (292 bytes per 256): fp32 d, int8 q[256], int16 bsums[16] (sums of each run
/// of 16 q). K-quant kernels use bsums to fold per-sub-block offsets (mins, the -32 of Q6_K, the -4 of Q3_K)
/// into one small product instead of touching every element.</summary>
internal static class Q8_KLayout
{
    public const int BlockBytes = 292;
    public const int QuantsOffset = 4;
    public const int SumsOffset = 260;
}

namespace QwenSharp.Tensors;

internal static partial class ReferenceKernels
{
    /// <summary>The dot product llama.cpp's vec_dot computes, in exact (double) arithmetic: Σ w·a over the decoded
    /// weights and activations. For Q4_1/Q5_1 llama.cpp uses the activation's stored s = fp16(d·Σq) in place of
    /// Σ a, so the offset term m·Σa is replaced by m·s here too.</summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activation, int n)
    {
        var activationType = VecDot.ActivationType(weightType);
        var w = DecodeExact(weightType, weightRow, n);
        var a = DecodeExact(activationType, activation, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += w[i] * a[i];
        if (activationType == GgmlType.Q8_1)
        {
            int weightBlockBytes = GgmlTypeInfo.Block(weightType).TypeSize;
            for (int b = 0; b < n / 32; b++)
            {
                double m = Half(weightRow.Slice(b * weightBlockBytes + 2));
                double sumA = 0;
                for (int i = 32 * b; i < 32 * b + 32; i++) sumA += a[i];
                sum += m * (Half(activation.Slice(36 * b + 2)) - sumA);
            }
        }
        return (float)sum;
    }
}

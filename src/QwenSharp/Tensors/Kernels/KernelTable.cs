using QwenSharp.Tensors.Activations;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Maps (weight type, rung) to kernels. The best rung's entries are resolved once into an array indexed
/// by the ggml type id, so the public entry points cost one load per call.</summary>
internal static unsafe class KernelTable
{
    private const int TypeSlots = 40;
    private static readonly WeightKernels[] BestWeights = BuildBestWeights();
    private static readonly delegate*<float*, byte*, int, void>[] BestActivations = BuildBestActivations();

    public static WeightKernels For(GgmlType type, KernelPath path) => type switch
    {
        GgmlType.F32 => F32Kernels.For(path),
        GgmlType.F16 => F16Kernels.For(path),
        GgmlType.BF16 => BF16Kernels.For(path),
        GgmlType.Q8_0 => Q8_0Kernels.For(path),
        GgmlType.Q4_0 => Q4_0Kernels.For(path),
        GgmlType.Q4_1 => Q4_1Kernels.For(path),
        GgmlType.Q5_0 => Q5_0Kernels.For(path),
        GgmlType.Q5_1 => Q5_1Kernels.For(path),
        GgmlType.Q2_K => Q2_KKernels.For(path),
        GgmlType.Q3_K => Q3_KKernels.For(path),
        GgmlType.Q4_K => Q4_KKernels.For(path),
        GgmlType.Q5_K => Q5_KKernels.For(path),
        GgmlType.Q6_K => Q6_KKernels.For(path),
        _ => default,
    };

    /// <summary>The activation quantizer for a weight type (by its activation type).</summary>
    public static delegate*<float*, byte*, int, void> Activation(GgmlType weightType, KernelPath path)
    {
        var activationType = VecDot.ActivationType(weightType);
        return activationType switch
        {
            GgmlType.Q8_0 or GgmlType.Q8_1 => Q8_0Activation.For(activationType, path),
            GgmlType.Q8_K => Q8_KActivation.For(path),
            _ => FloatActivation.For(activationType, path),
        };
    }

    public static WeightKernels Best(GgmlType type) => BestWeights[(int)type];

    public static delegate*<float*, byte*, int, void> BestActivation(GgmlType weightType) => BestActivations[(int)weightType];

    private static WeightKernels[] BuildBestWeights()
    {
        var table = new WeightKernels[TypeSlots];
        foreach (var type in Enum.GetValues<GgmlType>())
            if (GgmlTypeInfo.IsSupported(type))
                table[(int)type] = For(type, DotPath(type)).WithDequantize(For(type, KernelPaths.Best).Dequantize);
        return table;
    }

    /// <summary>The rung whose dot kernel production uses for a weight type.</summary>
    public static KernelPath DotPath(GgmlType type) =>
        type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 ? KernelPaths.Best : KernelPaths.BestForByteDots;

    private static delegate*<float*, byte*, int, void>[] BuildBestActivations()
    {
        var table = new delegate*<float*, byte*, int, void>[TypeSlots];
        foreach (var type in Enum.GetValues<GgmlType>())
            if (GgmlTypeInfo.IsSupported(type)) table[(int)type] = Activation(type, KernelPaths.Best);
        return table;
    }
}

using System.Buffers.Binary;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Random rows for kernel tests: random bytes everywhere, with the fp16 scale fields replaced by sane
/// values (|d| in 0.001..0.1) so every decoded value is finite and dot products are well conditioned.</summary>
internal static partial class TensorTestData
{
    public static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
        GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    /// <summary>Names of the rungs this machine runs (tests take names: KernelPath is internal).</summary>
    public static IEnumerable<string> SupportedPaths =>
        KernelPaths.All.Where(KernelPaths.IsSupported).Select(p => p.ToString());

    public static KernelPath Path(string name) => Enum.Parse<KernelPath>(name);

    /// <summary>Offsets of the fp16 scale fields inside one block.</summary>
    public static int[] ScaleOffsets(GgmlType type) => ScaleFields(type).Select(f => f.Offset).ToArray();

    /// <summary>Offsets of the fp16 scale fields inside one block, and whether each may be negative.</summary>
    private static (int Offset, bool Signed)[] ScaleFields(GgmlType type) => type switch
    {
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 => [(0, true)],
        GgmlType.Q4_1 or GgmlType.Q5_1 => [(0, false), (2, true)],
        GgmlType.Q2_K => [(80, false), (82, false)],
        GgmlType.Q3_K => [(108, true)],
        GgmlType.Q4_K or GgmlType.Q5_K => [(0, false), (2, false)],
        GgmlType.Q6_K => [(208, true)],
        _ => [],
    };

    public static ushort SaneHalf(Random rng, bool signed)
    {
        float magnitude = 0.001f + 0.099f * rng.NextSingle();
        return BitConverter.HalfToUInt16Bits((Half)(signed && rng.Next(2) == 0 ? -magnitude : magnitude));
    }

    /// <summary>rows random weight rows (<see cref="RandomRow"/>) and batch random activation rows quantized for
    /// them on path, each array contiguous: the operands of a MatMulRows test.</summary>
    public static (byte[] Weights, byte[] Activations) RandomMatMulOperands(GgmlType type, int rows, int batch, int n, Random rng, KernelPath path)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, n), actBytes = VecDot.ActivationRowBytes(type, n);
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++) RandomRow(type, n, rng).CopyTo(weights, r * rowBytes);
        var activations = new byte[batch * actBytes];
        for (int b = 0; b < batch; b++)
            VecDot.QuantizeActivation(type, RandomActivations(n, rng), activations.AsSpan((int)(b * actBytes), (int)actBytes), path);
        return (weights, activations);
    }

    public static byte[] RandomRow(GgmlType type, int n, Random rng)
    {
        var row = new byte[GgmlTypeInfo.RowBytes(type, n)];
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), Gaussian(rng) * 0.05f);
                break;
            case GgmlType.F16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), BitConverter.HalfToUInt16Bits((Half)(Gaussian(rng) * 0.05f)));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(Gaussian(rng) * 0.05f) >> 16));
                break;
            default:
                rng.NextBytes(row);
                int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
                for (int b = 0; b < row.Length / blockBytes; b++)
                    foreach (var (offset, signed) in ScaleFields(type))
                        BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(b * blockBytes + offset), SaneHalf(rng, signed));
                break;
        }
        return row;
    }

    /// <summary>A row whose scales are powers of two (d = 2^-6, dmin/m = 2^-5) and whose float elements are
    /// multiples of 2^-6, so dot products with small integers are exact in fp32.</summary>
    public static byte[] ExactRow(GgmlType type, int n, Random rng)
    {
        var row = RandomRow(type, n, rng);
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(4 * i), rng.Next(-64, 65) / 64f);
                break;
            case GgmlType.F16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), BitConverter.HalfToUInt16Bits((Half)(rng.Next(-64, 65) / 64f)));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits(rng.Next(-64, 65) / 64f) >> 16));
                break;
            default:
                int blockBytes = GgmlTypeInfo.Block(type).TypeSize;
                for (int b = 0; b < row.Length / blockBytes; b++)
                {
                    var fields = ScaleFields(type);
                    for (int f = 0; f < fields.Length; f++)
                        BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(b * blockBytes + fields[f].Offset),
                            BitConverter.HalfToUInt16Bits((Half)(f == 0 ? 1f / 64 : -1f / 32)));
                }
                break;
        }
        return row;
    }

    /// <summary>Activation-like values: mostly unit Gaussian, with an occasional large outlier.</summary>
    public static float[] RandomActivations(int n, Random rng)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.Next(50) == 0 ? Gaussian(rng) * 20f : Gaussian(rng);
        return x;
    }

    public static float Gaussian(Random rng) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    /// <summary>A row length covering several blocks, with an odd number of 32-blocks so the two-block Vector512
    /// loops also run their tail.</summary>
    public static int TestLength(GgmlType type) => GgmlTypeInfo.Block(type).BlockSize switch
    {
        256 => 768,
        32 => 32 * 13,
        _ => 333,
    };
}

using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors;

/// <summary>Turns one row of a weight tensor (any supported ggml type) into floats, bit-identical to llama.cpp's
/// dequantize_row_* (every value is the single rounding of an exact product, so evaluation order cannot matter).</summary>
public static unsafe class Dequantize
{
    /// <summary>dst.Length elements (a whole number of blocks) from the start of src.</summary>
    public static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst) => Row(type, src, dst, KernelPaths.Best);

    internal static void Row(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst, KernelPath path)
    {
        TensorArguments.RequireSupported(type);
        long bytes = TensorArguments.RowBytes(type, dst.Length);
        if (src.Length < bytes)
            throw new QwenSharpException($"{GgmlTypeInfo.Name(type)} row of {dst.Length} elements needs {bytes} bytes, got {src.Length}");
        var kernels = KernelTable.For(type, path);
        fixed (byte* s = src)
        fixed (float* d = dst)
            kernels.Dequantize(s, d, dst.Length);
    }
}

using System.Runtime.CompilerServices;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Scratch for a decode (batch-1) kernel's re-laid-out activation row. Up to <see cref="StackBytes"/> it
/// lives on the stack (every Qwen1.5 width), so a compute thread's first decode chunk allocates nothing, whenever it
/// comes: a [ThreadStatic] buffer, and the thread's static storage for its type, would be allocated on that call,
/// inside the decode loop. Wider rows use one per-thread buffer, grown once and shared by the kernels (they never
/// nest).</summary>
internal static unsafe class DecodeScratch
{
    public const int StackBytes = 64 << 10;

    [ThreadStatic] private static byte[]? wide;

    /// <summary>Runs kernel(weights, n, rowStart, rowEnd, activation, output, scratch) with bytes of scratch.</summary>
    [SkipLocalsInit]   // kernels write their scratch before they read it
    public static void Run(int bytes, delegate*<byte*, int, int, int, byte*, float*, byte*, void> kernel,
                           byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (bytes <= StackBytes)
        {
            byte* scratch = stackalloc byte[bytes];
            kernel(weights, n, rowStart, rowEnd, activation, output, scratch);
            return;
        }
        var buffer = wide;
        if (buffer == null || buffer.Length < bytes) wide = buffer = new byte[bytes];
        fixed (byte* scratch = buffer) kernel(weights, n, rowStart, rowEnd, activation, output, scratch);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>How a 32-element block type without offsets loads blocks k and k + 4 of a group of eight for
/// <see cref="Block32SmallBatch"/>: low = [elements 0..15 of block k | elements 0..15 of block k + 4], high = the
/// same for elements 16..31, straight from the row (no scratch).</summary>
internal unsafe interface IBlock32Halves
{
    /// <summary>Whether the loaded bytes are the signed values themselves (Q8_0; q + Bias is then q ^ 0x80), rather
    /// than the unsigned q + Bias (Q4_0's nibbles).</summary>
    static abstract bool SignedBytes { get; }

    static abstract void Load(byte* block, byte* block4, out Vector256<byte> low, out Vector256<byte> high);
}

/// <summary>Small-batch (decode of several sequences) MatMulRows for 32-element block types without offsets on the
/// Vector256 rungs. The tile kernel (<see cref="Block32Tile"/>) re-lays out four weight rows into scratch with
/// gathers, which pays only when many activations reuse it; here each group of eight weight blocks is loaded from
/// the row once and transposed in registers — four 128-bit halves per vector and two 4×4 dword transposes (16
/// in-lane unpacks), so that int32 lane k of every one of the eight vectors holds four bytes of block k — and then
/// serves every activation of the batch: eight byte dots into one accumulator leave block k's whole integer sum in
/// lane k. Activations are laid out the same way once per call (≤ 8 at a time, in L1).
/// Per (row, activation) the arithmetic is <see cref="Block32Dot.Dot256{TKernel,TDot}"/>'s (and Dot512's, whose
/// fp32 part is the same): the same exact integer block sums in the same lanes (unsigned weights with
/// Bias·Σ q_a taken off, as in the tile kernel; or, with AVX2's vpmaddubsw and Q8_0, the signed bytes with the sign
/// moved onto the activation), the same fp32 scale products, fused accumulation order, final reduction and tail
/// blocks, so every output is bit-identical to the single-row dot.</summary>
internal static unsafe class Block32SmallBatch
{
    /// <summary>Activations laid out at a time; larger batches go in chunks of this many.</summary>
    public const int MaxChunk = 8;

    /// <summary>Per group of eight blocks and activation: 256 quant bytes, -Bias·Σ q_a per block (8 int32), the
    /// fp16 scales as floats (8 fp32).</summary>
    private const int GroupBytes = 256 + 32 + 32, BiasAt = 256, ScalesAt = 288;

    [ThreadStatic] private static byte[]? scratch;

    /// <summary>Weights go in unsigned (q + Bias, no per-activation sign transfer) with vpdpbusd always, and with
    /// vpmaddubsw while q + Bias stays below 64 (not Q8_0, whose 16-bit pair sums could saturate).</summary>
    private static bool UnsignedWeights<THalves, TDot>() where THalves : IBlock32Halves where TDot : IInt8Dot256 =>
        typeof(TDot) == typeof(AvxVnniInt8Dot) || !THalves.SignedBytes;

    public static void MatMul<TKernel, THalves, TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                                      float* output, int outputStride)
        where TKernel : IBlock32Tile where THalves : IBlock32Halves where TDot : IInt8Dot256
    {
        if (rowEnd <= rowStart || batch <= 0) return;
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowBytes = (long)(n / 32) * wb, actBytes = (long)(n / 32) * ab;
        int blocks = n / 32, groups = blocks / 8, tail = blocks - groups * 8;
        int chunk = Math.Min(MaxChunk, batch);
        long scratchBytes = (long)groups * chunk * GroupBytes + 32;
        var buffer = scratch;
        if (buffer == null || buffer.Length < scratchBytes) scratch = buffer = new byte[scratchBytes];
        var acc = stackalloc Vector256<float>[MaxChunk];
        fixed (byte* raw = buffer)
        {
            byte* laid = (byte*)(((nint)raw + 31) & ~(nint)31);
            for (int first = 0; first < batch; first += chunk)
            {
                int count = Math.Min(chunk, batch - first);
                for (int b = 0; b < count; b++)
                    LayOutActivation<TKernel, THalves, TDot>(activations + (first + b) * actBytes, groups, laid + b * GroupBytes, (long)count * GroupBytes);
                for (int r = rowStart; r < rowEnd; r++)
                {
                    byte* w = weights + r * rowBytes;
                    Row<TKernel, THalves, TDot>(w, groups, laid, count, acc);
                    byte* tw = w + groups * 8 * wb;
                    float* o = output + (long)first * outputStride + r;
                    // Dot256's final reduction: lanes summed, + 0 (no offsets), + the tail blocks. Without tail
                    // blocks that last term is +0, and (x + 0) + 0 = x + 0 bit for bit (even for -0 and NaN).
                    if (tail == 0)
                        for (int b = 0; b < count; b++) o[(long)b * outputStride] = Simd256.Sum(acc[b]) + 0f;
                    else
                        for (int b = 0; b < count; b++)
                            o[(long)b * outputStride] = Simd256.Sum(acc[b]) + 0f
                                + Block32Dot.Tail256<TKernel, TDot>(tw, activations + (first + b) * actBytes + groups * 8 * ab, tail);
                }
            }
        }
    }

    /// <summary>Four vectors of four 128-bit rows each → four vectors whose int32 lane i (in each 128-bit half)
    /// holds dword j of input i's half: a 4×4 dword transpose inside each 128-bit half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector256<byte> v0, Vector256<byte> v1, Vector256<byte> v2, Vector256<byte> v3,
                                  out Vector256<byte> o0, out Vector256<byte> o1, out Vector256<byte> o2, out Vector256<byte> o3)
    {
        var t0 = Avx2.UnpackLow(v0.AsInt32(), v1.AsInt32()).AsInt64();
        var t1 = Avx2.UnpackHigh(v0.AsInt32(), v1.AsInt32()).AsInt64();
        var t2 = Avx2.UnpackLow(v2.AsInt32(), v3.AsInt32()).AsInt64();
        var t3 = Avx2.UnpackHigh(v2.AsInt32(), v3.AsInt32()).AsInt64();
        o0 = Avx2.UnpackLow(t0, t2).AsByte();
        o1 = Avx2.UnpackHigh(t0, t2).AsByte();
        o2 = Avx2.UnpackLow(t1, t3).AsByte();
        o3 = Avx2.UnpackHigh(t1, t3).AsByte();
    }

    /// <summary>Activation bytes of blocks k and k + 4 in the halves layout (signed, as stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ActivationHalves(byte* a, byte* a4, out Vector256<byte> low, out Vector256<byte> high)
    {
        low = Vector256.Create(Vector128.Load(a), Vector128.Load(a4));
        high = Vector256.Create(Vector128.Load(a + 16), Vector128.Load(a4 + 16));
    }

    /// <summary>Per group: the eight laid-out quant vectors, -Bias·Σ q_a per block (unsigned weights only; where the byte dots start) and the
    /// eight scales as floats; groups of one activation are <paramref name="groupStride"/> bytes apart.</summary>
    private static void LayOutActivation<TKernel, THalves, TDot>(byte* a, int groups, byte* dst, long groupStride)
        where TKernel : IBlock32Tile where THalves : IBlock32Halves where TDot : IInt8Dot256
    {
        int ab = TKernel.ActivationBlockBytes, at = TKernel.ActivationQuantsAt;
        var biasBytes = Vector256.Create(TKernel.Bias);
        for (int g = 0; g < groups; g++, a += 8 * ab, dst += groupStride)
        {
            ActivationHalves(a + at, a + 4 * ab + at, out var l0, out var h0);
            ActivationHalves(a + ab + at, a + 5 * ab + at, out var l1, out var h1);
            ActivationHalves(a + 2 * ab + at, a + 6 * ab + at, out var l2, out var h2);
            ActivationHalves(a + 3 * ab + at, a + 7 * ab + at, out var l3, out var h3);
            Transpose(l0, l1, l2, l3, out var y0, out var y1, out var y2, out var y3);
            Transpose(h0, h1, h2, h3, out var y4, out var y5, out var y6, out var y7);
            y0.Store(dst); y1.Store(dst + 32); y2.Store(dst + 64); y3.Store(dst + 96);
            y4.Store(dst + 128); y5.Store(dst + 160); y6.Store(dst + 192); y7.Store(dst + 224);
            var bias = Vector256<int>.Zero;
            if (UnsignedWeights<THalves, TDot>())
            {
                bias = TDot.MultiplyAdd(bias, biasBytes, y0.AsSByte()); bias = TDot.MultiplyAdd(bias, biasBytes, y1.AsSByte());
                bias = TDot.MultiplyAdd(bias, biasBytes, y2.AsSByte()); bias = TDot.MultiplyAdd(bias, biasBytes, y3.AsSByte());
                bias = TDot.MultiplyAdd(bias, biasBytes, y4.AsSByte()); bias = TDot.MultiplyAdd(bias, biasBytes, y5.AsSByte());
                bias = TDot.MultiplyAdd(bias, biasBytes, y6.AsSByte()); bias = TDot.MultiplyAdd(bias, biasBytes, y7.AsSByte());
            }
            (-bias).Store((int*)(dst + BiasAt));
            Simd256.GatherHalves(a, ab).Store((float*)(dst + ScalesAt));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Y(byte* ai, int j) => Vector256.Load((sbyte*)(ai + 32 * j));

    /// <summary>acc[b] = the lane-wise fp32 accumulation of Dot256 for this row and laid-out activation b, over the
    /// whole eight-block groups.</summary>
    private static void Row<TKernel, THalves, TDot>(byte* w, int groups, byte* laid, int count, Vector256<float>* acc)
        where TKernel : IBlock32Tile where THalves : IBlock32Halves where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes;
        for (int b = 0; b < count; b++) acc[b] = Vector256<float>.Zero;
        int ahead = Block32Rows.PrefetchAhead, groupBytes = 8 * wb;
        byte* ai = laid;
        for (int g = 0; g < groups; g++, w += groupBytes)
        {
            Block32Rows.PrefetchBlock(w, ahead, groupBytes);   // a group is 144..272 bytes
            THalves.Load(w, w + 4 * wb, out var l0, out var h0);
            THalves.Load(w + wb, w + 5 * wb, out var l1, out var h1);
            THalves.Load(w + 2 * wb, w + 6 * wb, out var l2, out var h2);
            THalves.Load(w + 3 * wb, w + 7 * wb, out var l3, out var h3);
            Transpose(l0, l1, l2, l3, out var q0, out var q1, out var q2, out var q3);
            Transpose(h0, h1, h2, h3, out var q4, out var q5, out var q6, out var q7);
            var weightScales = Simd256.GatherHalves(w, wb);
            if (UnsignedWeights<THalves, TDot>())
            {
                if (THalves.SignedBytes)
                {
                    var flip = Vector256.Create((byte)0x80);
                    q0 ^= flip; q1 ^= flip; q2 ^= flip; q3 ^= flip; q4 ^= flip; q5 ^= flip; q6 ^= flip; q7 ^= flip;
                }
                for (int b = 0; b < count; b++, ai += GroupBytes)
                {
                    // two chains of four byte dots (shorter dependency chains); integer sums are exact in any order
                    // two chains of four byte dots (shorter dependency chains), the first starting from -Bias·Σ q_a;
                    // the integer sums are exact in any order
                    var s = TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(Vector256.Load((int*)(ai + BiasAt)),
                                q0, Y(ai, 0)), q1, Y(ai, 1)), q2, Y(ai, 2)), q3, Y(ai, 3));
                    var t = TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(Vector256<int>.Zero,
                                q4, Y(ai, 4)), q5, Y(ai, 5)), q6, Y(ai, 6)), q7, Y(ai, 7));
                    acc[b] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s + t), weightScales * Vector256.Load((float*)(ai + ScalesAt)), acc[b]);
                }
            }
            else
            {
                // signed Q8_0 bytes with vpmaddubsw: |q| as the unsigned operand, q's sign moved onto the activation
                var m0 = Avx2.Abs(q0.AsSByte()); var m1 = Avx2.Abs(q1.AsSByte()); var m2 = Avx2.Abs(q2.AsSByte()); var m3 = Avx2.Abs(q3.AsSByte());
                var m4 = Avx2.Abs(q4.AsSByte()); var m5 = Avx2.Abs(q5.AsSByte()); var m6 = Avx2.Abs(q6.AsSByte()); var m7 = Avx2.Abs(q7.AsSByte());
                for (int b = 0; b < count; b++, ai += GroupBytes)
                {
                    var s = TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(Vector256<int>.Zero,
                                m0, Avx2.Sign(Y(ai, 0), q0.AsSByte())), m1, Avx2.Sign(Y(ai, 1), q1.AsSByte())),
                                m2, Avx2.Sign(Y(ai, 2), q2.AsSByte())), m3, Avx2.Sign(Y(ai, 3), q3.AsSByte()));
                    var t = TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(TDot.MultiplyAdd(Vector256<int>.Zero,
                                m4, Avx2.Sign(Y(ai, 4), q4.AsSByte())), m5, Avx2.Sign(Y(ai, 5), q5.AsSByte())),
                                m6, Avx2.Sign(Y(ai, 6), q6.AsSByte())), m7, Avx2.Sign(Y(ai, 7), q7.AsSByte()));
                    acc[b] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s + t), weightScales * Vector256.Load((float*)(ai + ScalesAt)), acc[b]);
                }
            }
        }
    }
}

/// <summary>Q8_0 blocks (fp16 d, int8 q[32]) in the halves layout: the stored signed bytes.</summary>
internal readonly unsafe struct Q8_0Halves : IBlock32Halves
{
    public static bool SignedBytes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* block, byte* block4, out Vector256<byte> low, out Vector256<byte> high)
    {
        low = Vector256.Create(Vector128.Load(block + 2), Vector128.Load(block4 + 2));
        high = Vector256.Create(Vector128.Load(block + 18), Vector128.Load(block4 + 18));
    }
}

/// <summary>Q4_0 blocks (fp16 d, qs[16]: element j the low nibble of qs[j], element j + 16 its high nibble) in the
/// halves layout: the unsigned nibbles q (value q - 8). The two blocks' sixteen bytes share one vector, so one
/// mask gives both low halves and one shift + mask both high halves.</summary>
internal readonly unsafe struct Q4_0Halves : IBlock32Halves
{
    public static bool SignedBytes => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(byte* block, byte* block4, out Vector256<byte> low, out Vector256<byte> high)
    {
        var packed = Vector256.Create(Vector128.Load(block + 2), Vector128.Load(block4 + 2));
        var mask = Vector256.Create((byte)0x0F);
        low = packed & mask;
        high = (packed.AsUInt16() >>> 4).AsByte() & mask;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A 32-element block type whose weights are an integer q - Bias with q in 0..255 (Bias 0 for Q4_1/Q5_1),
/// so an unpacked block is 32 unsigned bytes that feed vpdpbusd directly (no per-activation sign transfer).</summary>
internal unsafe interface IBlock32Tile : IBlock32Kernel
{
    /// <summary>The offset the stored unsigned values carry: value = q - Bias.</summary>
    static abstract byte Bias { get; }

    /// <summary>The block's 32 values plus Bias, as unsigned bytes in element order.</summary>
    static abstract Vector256<byte> Unsigned(byte* w);

    /// <summary>Where the 32 activation bytes start in an activation block (Q8_0: 2, Q8_1: 4).</summary>
    static abstract int ActivationQuantsAt { get; }
}

/// <summary>MatMulRows for 32-element block types on the Vector256 rungs (AVX2's vpmaddubsw only for types whose
/// unsigned values stay below 64, so its 16-bit pair sums cannot saturate: not Q8_0). Both operands are first
/// re-laid out in groups of eight blocks, "interleaved": vector j of a group holds bytes 4j..4j+3 of block k in int32 lane k, so
/// eight vpdpbusd into one accumulator leave block k's whole integer sum in lane k, which is exactly the vector the
/// single-row dot builds with its horizontal adds (and then scales and accumulates lane by lane) — without any
/// horizontal adds. Weights are unpacked and interleaved once per tile of four rows, activations once per chunk of
/// the batch, so the inner loop is loads and byte dots only. Per (row, activation) pair the arithmetic is that of
/// <see cref="Block32Dot.Dot256{TKernel,TDot}"/>: the same exact integer block sums (Σ q·q_a - Bias·Σ q_a equals
/// Σ (q - Bias)·q_a in int32; vpdpbusd never saturates, vpmaddubsw does not for these values), the same fp32
/// scale products, the same fused accumulation order and final reduction, so results are bit-identical to the
/// single-row dot. Types without offsets run 4 rows × 2 activations, each weight load serving both.</summary>
internal static unsafe class Block32Tile
{
    private const int Rows = 4;

    /// <summary>Below this batch the re-layout costs more than it saves (decode keeps the single-row dot).</summary>
    private const int MinBatch = 2;

    /// <summary>Activations interleaved at a time: the chunk (≈ 80 KB for n = 1024) stays in L2 while every
    /// weight tile of the row range passes over it.</summary>
    private const int Chunk = 64;

    /// <summary>Bytes per group of eight blocks in the interleaved layouts: 256 quant bytes, then the scales
    /// (8 fp32), the offsets m or s (8 fp32, types with offsets), and for activations the bias sums (8 int32).</summary>
    private const int WeightGroupBytes = 256 + 64, ActivationGroupBytes = 256 + 96;
    private const int ScalesAt = 256, OffsetsAt = 288, BiasAt = 320;

    [ThreadStatic] private static byte[]? scratch;

    public static void MatMul<TKernel, TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                             float* output, int outputStride) where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowBytes = (long)(n / 32) * wb, actBytes = (long)(n / 32) * ab;
        int blocks = n / 32, groups = blocks / 8;
        int fullEnd = batch >= MinBatch && groups > 0 ? rowStart + (rowEnd - rowStart) / Rows * Rows : rowStart;
        if (fullEnd > rowStart)
        {
            int chunk = Math.Min(Chunk, batch);
            long weightBytes = (long)Rows * groups * WeightGroupBytes, activationBytes = (long)chunk * groups * ActivationGroupBytes;
            var buffer = scratch;
            if (buffer == null || buffer.Length < weightBytes + activationBytes + 32) scratch = buffer = new byte[weightBytes + activationBytes + 32];
            fixed (byte* raw = buffer)
            {
                byte* tileScratch = (byte*)(((nint)raw + 31) & ~(nint)31);
                byte* chunkScratch = tileScratch + weightBytes;
                for (int first = 0; first < batch; first += chunk)
                {
                    int count = Math.Min(chunk, batch - first);
                    for (int b = 0; b < count; b++)
                        InterleaveActivation<TKernel, TDot>(activations + (first + b) * actBytes, groups, chunkScratch + (long)b * groups * ActivationGroupBytes);
                    for (int tile = rowStart; tile < fullEnd; tile += Rows)
                    {
                        for (int r = 0; r < Rows; r++)
                            InterleaveWeights<TKernel>(weights + (tile + r) * rowBytes, groups, tileScratch + (long)r * groups * WeightGroupBytes);
                        int b = 0;
                        if (!TKernel.HasOffset)
                            for (; b + 2 <= count; b += 2)
                                TileTimesTwoActivations<TKernel, TDot>(weights + tile * rowBytes, rowBytes, tileScratch, blocks, groups,
                                    activations + (first + b) * actBytes, actBytes, chunkScratch + (long)b * groups * ActivationGroupBytes,
                                    (long)groups * ActivationGroupBytes, output + (long)(first + b) * outputStride + tile, outputStride);
                        for (; b < count; b++)
                            TileTimesActivation<TKernel, TDot>(weights + tile * rowBytes, rowBytes, tileScratch, blocks, groups,
                                                         activations + (first + b) * actBytes, chunkScratch + (long)b * groups * ActivationGroupBytes,
                                                         output + (long)(first + b) * outputStride + tile);
                    }
                }
            }
        }
        var dot = (delegate*<byte*, byte*, int, float>)&Block32Dot.Dot256<TKernel, TDot>;
        for (int b = 0; b < batch; b++)
            for (int r = fullEnd; r < rowEnd; r++)
                output[(long)b * outputStride + r] = dot(weights + r * rowBytes, activations + b * actBytes, n);
    }

    /// <summary>Int32 lane k of the result = the int32 at p + k·stride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Gather(byte* p, int stride) =>
        Avx2.GatherVector256((int*)p, Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride, 1).AsByte();

    /// <summary>Per group: the interleaved unsigned values, then the eight fp16 scales as floats.</summary>
    private static void InterleaveWeights<TKernel>(byte* w, int groups, byte* dst) where TKernel : IBlock32Tile
    {
        int wb = TKernel.WeightBlockBytes;
        byte* unpacked = stackalloc byte[256];
        for (int g = 0; g < groups; g++, w += 8 * wb, dst += WeightGroupBytes)
        {
            for (int k = 0; k < 8; k++) TKernel.Unsigned(w + k * wb).Store(unpacked + 32 * k);
            for (int j = 0; j < 8; j++) Gather(unpacked + 4 * j, 32).Store(dst + 32 * j);
            Simd256.GatherHalves(w, wb).Store((float*)(dst + ScalesAt));
            if (TKernel.HasOffset) Simd256.GatherHalves(w + 2, wb).Store((float*)(dst + OffsetsAt));
        }
    }

    /// <summary>Per group: the interleaved activation bytes, Bias·Σ q_a per block, the eight fp16 scales as floats.</summary>
    private static void InterleaveActivation<TKernel, TDot>(byte* a, int groups, byte* dst) where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int ab = TKernel.ActivationBlockBytes;
        var biasBytes = Vector256.Create(TKernel.Bias);
        for (int g = 0; g < groups; g++, a += 8 * ab, dst += ActivationGroupBytes)
        {
            var bias = Vector256<int>.Zero;
            for (int j = 0; j < 8; j++)
            {
                var y = Gather(a + TKernel.ActivationQuantsAt + 4 * j, ab);
                y.Store(dst + 32 * j);
                bias = TDot.MultiplyAdd(bias, biasBytes, y.AsSByte());
            }
            bias.Store((int*)(dst + BiasAt));
            Simd256.GatherHalves(a, ab).Store((float*)(dst + ScalesAt));
            if (TKernel.HasOffset) Simd256.GatherHalves(a + 2, ab).Store((float*)(dst + OffsetsAt));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot<TDot>(Vector256<int> acc, byte* q, Vector256<sbyte> y) where TDot : IInt8Dot256 =>
        TDot.MultiplyAdd(acc, Vector256.Load(q), y);

    private static void TileTimesActivation<TKernel, TDot>(byte* w, long rowBytes, byte* tileScratch, int blocks, int groups,
                                                           byte* a, byte* ai, float* o) where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowStride = (long)groups * WeightGroupBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> off0 = default, off1 = default, off2 = default, off3 = default;
        byte* q = tileScratch;
        for (int g = 0; g < groups; g++, q += WeightGroupBytes, ai += ActivationGroupBytes)
        {
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int j = 0; j < 8; j++)
            {
                var y = Vector256.Load((sbyte*)(ai + 32 * j));
                s0 = Dot<TDot>(s0, q + 32 * j, y);
                s1 = Dot<TDot>(s1, q + rowStride + 32 * j, y);
                s2 = Dot<TDot>(s2, q + 2 * rowStride + 32 * j, y);
                s3 = Dot<TDot>(s3, q + 3 * rowStride + 32 * j, y);
            }
            var bias = Vector256.Load((int*)(ai + BiasAt));
            var activationScales = Vector256.Load((float*)(ai + ScalesAt));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0 - bias), Vector256.Load((float*)(q + ScalesAt)) * activationScales, acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1 - bias), Vector256.Load((float*)(q + rowStride + ScalesAt)) * activationScales, acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2 - bias), Vector256.Load((float*)(q + 2 * rowStride + ScalesAt)) * activationScales, acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3 - bias), Vector256.Load((float*)(q + 3 * rowStride + ScalesAt)) * activationScales, acc3);
            if (TKernel.HasOffset)
            {
                var activationOffsets = Vector256.Load((float*)(ai + OffsetsAt));
                off0 += Vector256.Load((float*)(q + OffsetsAt)) * activationOffsets;
                off1 += Vector256.Load((float*)(q + rowStride + OffsetsAt)) * activationOffsets;
                off2 += Vector256.Load((float*)(q + 2 * rowStride + OffsetsAt)) * activationOffsets;
                off3 += Vector256.Load((float*)(q + 3 * rowStride + OffsetsAt)) * activationOffsets;
            }
        }
        // the same final reduction as Block32Dot.Dot256: lanes summed, + the offsets' lanes summed (+ 0 without
        // offsets), then the tail blocks
        int done = groups * 8, tail = blocks - done;
        byte* tw = w + done * wb, ta = a + done * ab;
        o[0] = Simd256.Sum(acc0) + (TKernel.HasOffset ? Simd256.Sum(off0) : 0f) + Block32Dot.Tail256<TKernel, TDot>(tw, ta, tail);
        o[1] = Simd256.Sum(acc1) + (TKernel.HasOffset ? Simd256.Sum(off1) : 0f) + Block32Dot.Tail256<TKernel, TDot>(tw + rowBytes, ta, tail);
        o[2] = Simd256.Sum(acc2) + (TKernel.HasOffset ? Simd256.Sum(off2) : 0f) + Block32Dot.Tail256<TKernel, TDot>(tw + 2 * rowBytes, ta, tail);
        o[3] = Simd256.Sum(acc3) + (TKernel.HasOffset ? Simd256.Sum(off3) : 0f) + Block32Dot.Tail256<TKernel, TDot>(tw + 3 * rowBytes, ta, tail);
    }

    /// <summary>Four rows × two activations (types without offsets): each weight vector load serves both.
    /// Outputs at o[r] and o[outputStride + r].</summary>
    private static void TileTimesTwoActivations<TKernel, TDot>(byte* w, long rowBytes, byte* tileScratch, int blocks, int groups,
                                                               byte* a, long actBytes, byte* ai, long aiStride, float* o, int outputStride)
        where TKernel : IBlock32Tile where TDot : IInt8Dot256
    {
        int wb = TKernel.WeightBlockBytes, ab = TKernel.ActivationBlockBytes;
        long rowStride = (long)groups * WeightGroupBytes;
        Vector256<float> x0 = default, x1 = default, x2 = default, x3 = default;
        Vector256<float> z0 = default, z1 = default, z2 = default, z3 = default;
        byte* q = tileScratch;
        byte* bi = ai + aiStride;
        for (int g = 0; g < groups; g++, q += WeightGroupBytes, ai += ActivationGroupBytes, bi += ActivationGroupBytes)
        {
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            Vector256<int> t0 = default, t1 = default, t2 = default, t3 = default;
            for (int j = 0; j < 8; j++)
            {
                var y = Vector256.Load((sbyte*)(ai + 32 * j));
                var v = Vector256.Load((sbyte*)(bi + 32 * j));
                var q0 = Vector256.Load(q + 32 * j);
                var q1 = Vector256.Load(q + rowStride + 32 * j);
                var q2 = Vector256.Load(q + 2 * rowStride + 32 * j);
                var q3 = Vector256.Load(q + 3 * rowStride + 32 * j);
                s0 = TDot.MultiplyAdd(s0, q0, y); t0 = TDot.MultiplyAdd(t0, q0, v);
                s1 = TDot.MultiplyAdd(s1, q1, y); t1 = TDot.MultiplyAdd(t1, q1, v);
                s2 = TDot.MultiplyAdd(s2, q2, y); t2 = TDot.MultiplyAdd(t2, q2, v);
                s3 = TDot.MultiplyAdd(s3, q3, y); t3 = TDot.MultiplyAdd(t3, q3, v);
            }
            var biasY = Vector256.Load((int*)(ai + BiasAt));
            var biasV = Vector256.Load((int*)(bi + BiasAt));
            var scaleY = Vector256.Load((float*)(ai + ScalesAt));
            var scaleV = Vector256.Load((float*)(bi + ScalesAt));
            var w0 = Vector256.Load((float*)(q + ScalesAt));
            var w1 = Vector256.Load((float*)(q + rowStride + ScalesAt));
            var w2 = Vector256.Load((float*)(q + 2 * rowStride + ScalesAt));
            var w3 = Vector256.Load((float*)(q + 3 * rowStride + ScalesAt));
            x0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0 - biasY), w0 * scaleY, x0);
            x1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1 - biasY), w1 * scaleY, x1);
            x2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2 - biasY), w2 * scaleY, x2);
            x3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3 - biasY), w3 * scaleY, x3);
            z0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t0 - biasV), w0 * scaleV, z0);
            z1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t1 - biasV), w1 * scaleV, z1);
            z2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t2 - biasV), w2 * scaleV, z2);
            z3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(t3 - biasV), w3 * scaleV, z3);
        }
        int done = groups * 8, tail = blocks - done;
        byte* tw = w + done * wb, ta = a + done * ab, tb = ta + actBytes;
        o[0] = Simd256.Sum(x0) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw, ta, tail);
        o[1] = Simd256.Sum(x1) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + rowBytes, ta, tail);
        o[2] = Simd256.Sum(x2) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + 2 * rowBytes, ta, tail);
        o[3] = Simd256.Sum(x3) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + 3 * rowBytes, ta, tail);
        o += outputStride;
        o[0] = Simd256.Sum(z0) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw, tb, tail);
        o[1] = Simd256.Sum(z1) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + rowBytes, tb, tail);
        o[2] = Simd256.Sum(z2) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + 2 * rowBytes, tb, tail);
        o[3] = Simd256.Sum(z3) + 0f + Block32Dot.Tail256<TKernel, TDot>(tw + 3 * rowBytes, tb, tail);
    }
}

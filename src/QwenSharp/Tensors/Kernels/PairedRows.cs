using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A 32-element block type whose decode kernel is <see cref="PairedRows{TBlocks,TDot}"/>: it supplies the
/// integer sums of a pair of blocks (k, k+4) against the prepared activation vectors and their reduction.</summary>
internal unsafe interface IPairedBlocks : IBlock32Tile
{
    /// <summary>Σ (q + Bias)·q_a of blocks k and k+4 of the group at w: lanes 0..3 partial sums of block k, 4..7 of
    /// block k+4. low / high are the prepared activation vectors of the pair: [block k bytes 0..15 | block k+4
    /// bytes 0..15] and bytes 16..31 the same way.</summary>
    static abstract Vector256<int> Pair<TDot>(byte* w, int k, Vector256<sbyte> low, Vector256<sbyte> high) where TDot : IInt8Dot256;

    /// <summary>Lane k = block k's sum, from the four pair vectors of a group.</summary>
    static abstract Vector256<int> Reduce(Vector256<int> d0, Vector256<int> d1, Vector256<int> d2, Vector256<int> d3);
}

/// <summary>Decode (batch 1) MatMulRows for 32-element block types without offsets on the Vector256 rungs (Q4_0 on
/// both, Q8_0 with vpdpbusd). The single-row dot spends most of its instructions on one block at a time: moving
/// each block's sign onto the activation (or unpacking nibbles) and reducing eight blocks with horizontal adds; here
/// the activation row is re-laid out once per call so that the weights need almost nothing:
/// <list type="bullet">
/// <item>Blocks k and k+4 of each group of eight are paired: two 16-byte loads per vector hold both blocks'
/// elements 0..15 (Q4_0: one load, low nibbles) and 16..31 (high nibbles). The activation vectors are pre-arranged
/// the same way ([block k bytes 0..15 | block k+4 bytes 0..15] and bytes 16..31), so a pair's int32 lanes 0..3 are
/// partial sums of block k and 4..7 of block k+4, and the reduction needs no lane permute.</item>
/// <item>Weights go in unsigned (q + Bias) with signed activations, so vpdpbusd (or vpmaddubsw, for Q4_0 whose
/// nibbles stay below 64) needs no sign transfer; the offset comes back as Bias·Σq_a per block, computed once per
/// call.</item>
/// <item>The type reduces the four pair vectors: Q4_0's partial sums fit 16 bits (two levels of vpackssdw +
/// vpmaddwd(1)), Q8_0's do not (three vphaddd).</item>
/// </list>
/// Per row the arithmetic is then <see cref="Block32Dot.Dot256{TKernel,TDot}"/>'s: the same exact integer block sums
/// in the same lanes, the same fp32 scale products d_w·d_a, fused accumulation, final reduction and tail blocks,
/// so every output is bit-identical to the single-row dot. Four rows share each activation load.</summary>
internal static unsafe class PairedRows<TBlocks, TDot> where TBlocks : IPairedBlocks where TDot : IInt8Dot256
{
    private static int WeightBlock => TBlocks.WeightBlockBytes;
    private const int ActivationBlock = 34;

    /// <summary>Bytes of one group of eight blocks in the prepared activation: eight 32-byte vectors (low and high
    /// halves of the four block pairs), then the eight int32 biases Bias·Σq_a, then the eight fp32 scales d_a·2^112.</summary>
    private const int GroupBytes = 8 * 32 + 32 + 32;

    /// <summary>The prepared activation is <see cref="DecodeScratch"/> (on the stack up to n ≈ 52,000).</summary>
    public static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
    {
        if (rowEnd <= rowStart) return;
        DecodeScratch.Run(n / 32 / 8 * GroupBytes + 32, &MatVec, weights, n, rowStart, rowEnd, activation, output);
    }

    private static void MatVec(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output, byte* scratch)
    {
        int blocks = n / 32, groups = blocks / 8;
        long rowBytes = (long)blocks * WeightBlock;
        // 32-byte aligned vectors: neither the stack nor a pinned array's data is 32-aligned
        byte* p = (byte*)(((nint)scratch + 31) & ~(nint)31);
        Prepare(activation, groups, p);
        byte* tailActivation = activation + (long)groups * 8 * ActivationBlock;
        int tail = blocks - groups * 8, r = rowStart;
        for (; r + 4 <= rowEnd; r += 4)
            FourRows(weights + r * rowBytes, rowBytes, p, groups, tailActivation, tail, output + r, n);
        for (; r < rowEnd; r++)
            output[r] = OneRow(weights + r * rowBytes, p, groups, tailActivation, tail, n);
    }

    /// <summary>The activation re-laid out per group of eight blocks (see <see cref="GroupBytes"/>).</summary>
    private static void Prepare(byte* a, int groups, byte* p)
    {
        var bias8 = Vector256.Create(TBlocks.Bias);
        for (int g = 0; g < groups; g++, a += 8 * ActivationBlock, p += GroupBytes)
        {
            for (int k = 0; k < 4; k++)
            {
                byte* x = a + k * ActivationBlock + 2, y = a + (k + 4) * ActivationBlock + 2;
                Vector256.Create(Vector128.Load(x), Vector128.Load(y)).Store(p + 64 * k);
                Vector256.Create(Vector128.Load(x + 16), Vector128.Load(y + 16)).Store(p + 64 * k + 32);
            }
            var bias = Simd256.SumEach(
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 2 * ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 3 * ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 4 * ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 5 * ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 6 * ActivationBlock + 2))),
                TDot.MultiplyAdd(default, bias8, Vector256.Load((sbyte*)(a + 7 * ActivationBlock + 2))));
            bias.Store((int*)(p + 256));
            (Simd256.GatherHalves(a, ActivationBlock) * Vector256.Create(Fp16.ScaleUp)).Store((float*)(p + 288));
        }
    }

    /// <summary>One row's group of eight blocks against the prepared activation vectors: block sums less Bias·Σq_a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(byte* w, Vector256<sbyte> l0, Vector256<sbyte> h0, Vector256<sbyte> l1, Vector256<sbyte> h1,
        Vector256<sbyte> l2, Vector256<sbyte> h2, Vector256<sbyte> l3, Vector256<sbyte> h3, Vector256<int> bias) =>
        TBlocks.Reduce(TBlocks.Pair<TDot>(w, 0, l0, h0), TBlocks.Pair<TDot>(w, 1, l1, h1), TBlocks.Pair<TDot>(w, 2, l2, h2), TBlocks.Pair<TDot>(w, 3, l3, h3)) - bias;

    /// <summary>Prefetches the lines of a row's group of eight blocks, ahead bytes on (Q4_0: 144 bytes, three lines
    /// from w; Q8_0: 272 bytes, five).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchGroup(byte* w, long ahead) => Block32Rows.PrefetchBlockDecode(w, ahead, 8 * WeightBlock);

    /// <summary>d_w·d_a of a row's eight blocks. The fp16 d_w comes out of the gather as w·2^-112
    /// (<see cref="Fp16.ToSingleScaledDown"/>), exact for every finite half; the prepared d_a carries the 2^112, so the product is exactly d_w·d_a, rounded once as in the
    /// single-row dot. guard keeps the largest |d_w| (shifted to the top): an infinity or NaN scale makes
    /// <see cref="Finish"/> recompute the row with the single-row dot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* w, ref Vector256<uint> guard, Vector256<float> activationScales)
    {
        var raw = Avx2.GatherVector256((int*)w, Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * WeightBlock, 1);
        guard = Vector256.Max(guard, raw.AsUInt32() << 17);
        return Fp16.ToSingleScaledDown(raw) * activationScales;
    }

    /// <summary>Dot256's end: lanes summed, + 0 (no offsets), + the tail blocks one at a time.</summary>
    private static float Finish(Vector256<float> acc, Vector256<uint> guard, byte* w, byte* tailActivation, int tail, int groups, int n)
    {
        if (Vector256.GreaterThanOrEqualAny(guard, Vector256.Create(0xF800_0000u)))
            return Block32Dot.Dot256<TBlocks, TDot>(w - (long)groups * 8 * WeightBlock, tailActivation - (long)groups * 8 * ActivationBlock, n);
        return Simd256.Sum(acc) + 0f + Block32Dot.Tail256<TBlocks, TDot>(w, tailActivation, tail);
    }

    private static void FourRows(byte* w, long rowBytes, byte* p, int groups, byte* tailActivation, int tail, float* o, int n)
    {
        byte* w0 = w, w1 = w + rowBytes, w2 = w + 2 * rowBytes, w3 = w + 3 * rowBytes;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<uint> g0 = default, g1 = default, g2 = default, g3 = default;
        long ahead = Block32Rows.TileAhead(rowBytes);
        for (int g = 0; g < groups; g++, p += GroupBytes, w0 += 8 * WeightBlock, w1 += 8 * WeightBlock, w2 += 8 * WeightBlock, w3 += 8 * WeightBlock)
        {
            PrefetchGroup(w0, ahead); PrefetchGroup(w1, ahead); PrefetchGroup(w2, ahead); PrefetchGroup(w3, ahead);
            var l0 = Vector256.Load((sbyte*)p); var h0 = Vector256.Load((sbyte*)(p + 32));
            var l1 = Vector256.Load((sbyte*)(p + 64)); var h1 = Vector256.Load((sbyte*)(p + 96));
            var l2 = Vector256.Load((sbyte*)(p + 128)); var h2 = Vector256.Load((sbyte*)(p + 160));
            var l3 = Vector256.Load((sbyte*)(p + 192)); var h3 = Vector256.Load((sbyte*)(p + 224));
            var bias = Vector256.Load((int*)(p + 256));
            var scales = Vector256.Load((float*)(p + 288));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Group(w0, l0, h0, l1, h1, l2, h2, l3, h3, bias)), Scales(w0, ref g0, scales), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Group(w1, l0, h0, l1, h1, l2, h2, l3, h3, bias)), Scales(w1, ref g1, scales), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Group(w2, l0, h0, l1, h1, l2, h2, l3, h3, bias)), Scales(w2, ref g2, scales), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Group(w3, l0, h0, l1, h1, l2, h2, l3, h3, bias)), Scales(w3, ref g3, scales), acc3);
        }
        o[0] = Finish(acc0, g0, w0, tailActivation, tail, groups, n);
        o[1] = Finish(acc1, g1, w1, tailActivation, tail, groups, n);
        o[2] = Finish(acc2, g2, w2, tailActivation, tail, groups, n);
        o[3] = Finish(acc3, g3, w3, tailActivation, tail, groups, n);
    }

    private static float OneRow(byte* w, byte* p, int groups, byte* tailActivation, int tail, int n)
    {
        var acc = Vector256<float>.Zero;
        var guard = Vector256<uint>.Zero;
        for (int g = 0; g < groups; g++, p += GroupBytes, w += 8 * WeightBlock)
        {
            PrefetchGroup(w, Block32Rows.PrefetchAhead);
            var sums = Group(w, Vector256.Load((sbyte*)p), Vector256.Load((sbyte*)(p + 32)),
                Vector256.Load((sbyte*)(p + 64)), Vector256.Load((sbyte*)(p + 96)),
                Vector256.Load((sbyte*)(p + 128)), Vector256.Load((sbyte*)(p + 160)),
                Vector256.Load((sbyte*)(p + 192)), Vector256.Load((sbyte*)(p + 224)), Vector256.Load((int*)(p + 256)));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), Scales(w, ref guard, Vector256.Load((float*)(p + 288))), acc);
        }
        return Finish(acc, guard, w, tailActivation, tail, groups, n);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;
using static QwenSharp.Tensors.Kernels.Q8_KLayout;

namespace QwenSharp.Tensors.Kernels;

/// <summary>Q4_K weights repacked at load into groups of eight interleaved rows, and the kernel that reads them for
/// every batch size. A super-block of a row is 144 bytes, 36 int32 words (d | dmin &lt;&lt; 16, the 12 packed scale
/// bytes, 128 nibble bytes); in a group, super-block b of the eight rows is one record of 1152 bytes at b · 1152,
/// whose vector i (32 bytes) holds word i of the eight rows, lane r = row r:
/// <code>
///   vector 0           d | dmin &lt;&lt; 16 (fp16)
///   vectors 1, 2, 3    the packed scales p0..p3, p4..p7, p8..p11 (see KQuantScales.UnpackScaleMin)
///   vector 4 + 8j + l  nibble bytes 32j + 4l .. 32j + 4l + 3: low nibbles = elements 64j + 4l .. + 3
///                      (sub-block 2j), high nibbles = elements 64j + 32 + 4l .. + 3 (sub-block 2j + 1)
/// </code>
/// so one vpdpbusd against four activation bytes broadcast to every lane gives all eight rows a partial sum, the
/// scales of eight rows unpack with the same vector operations that unpack one row's, and no horizontal sum is left.
///
/// The arithmetic is this layout's own, not Q4_KKernels.Dot256's: per row and super-block the exact integers
/// S = Σ_s sc_s · Σ_{i in s} q_i·y_i and M = Σ_s m_s · Σ_{i in s} y_i, then
/// acc = fma(S, d·d_a, acc), acc = fma(M, dmin·(-d_a), acc) in super-block order (<see cref="ReferenceDot"/>, the scalar
/// twin, is that formula row by row; the tests hold every rung and batch to it bit for bit). Dot256 keeps eight
/// lanes per row and sums them at the end, which would cost eight float accumulators per row here; the two differ
/// by float rounding only (both are within the tests' tolerance of the exact dot). Every batch size runs this
/// arithmetic (batch 1, and four activations at a time for more), so a row's outputs do not depend on the rest of
/// the batch, as in the standard layout.</summary>
internal static unsafe class Q4_KInterleaved8
{
    private const int Rows = 8, Block = 144, Record = Rows * Block;

    /// <summary>Whole groups of eight rows on a machine with AVX2 + FMA (n is a whole number of super-blocks).</summary>
    public static bool Eligible(int rows, int n) =>
        rows > 0 && rows % Rows == 0 && n > 0 && n % 256 == 0 && Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Rewrites a rows × n matrix in place into the interleaved layout (same size).</summary>
    public static void Interleave(byte* data, int rows, int n)
    {
        long rowBytes = (long)(n / 256) * Block, groupBytes = Rows * rowBytes;
        var copy = new byte[groupBytes];
        fixed (byte* original = copy)
            for (int g = 0; g < rows / Rows; g++)
            {
                byte* group = data + g * groupBytes;
                Buffer.MemoryCopy(group, original, groupBytes, groupBytes);
                // word w of row r goes to w · 32 + r · 4: an 8 × words transpose, four words of four rows at a time
                for (long w = 0; w < rowBytes / 4; w += 4)
                    for (int four = 0; four < 2; four++)
                    {
                        byte* q = original + 4 * four * rowBytes + 4 * w;
                        Interleaved8.Transpose4(Vector128.Load((uint*)q), Vector128.Load((uint*)(q + rowBytes)),
                                                Vector128.Load((uint*)(q + 2 * rowBytes)), Vector128.Load((uint*)(q + 3 * rowBytes)),
                                                group + 32 * w + 16 * four, 32);
                    }
            }
    }

    /// <summary>The inverse: <paramref name="groups"/> interleaved groups at src back to 8 · groups standard rows at dst.</summary>
    public static void Deinterleave(byte* src, byte* dst, int groups, int n)
    {
        long rowBytes = (long)(n / 256) * Block;
        for (int g = 0; g < groups; g++, src += Rows * rowBytes, dst += Rows * rowBytes)
            for (long w = 0; w < rowBytes / 4; w += 4)
                for (int four = 0; four < 2; four++)
                {
                    byte* v = src + 32 * w + 16 * four;   // words w..w+3 of rows 4·four .. 4·four + 3
                    Interleaved8.Transpose4(Vector128.Load((uint*)v), Vector128.Load((uint*)(v + 32)),
                                            Vector128.Load((uint*)(v + 64)), Vector128.Load((uint*)(v + 96)),
                                            dst + 4 * four * rowBytes + 4 * w, rowBytes);
                }
    }

    /// <summary>Row <paramref name="row"/> in the file's layout, into dst.</summary>
    public static void CopyRow(byte* data, int row, int n, byte* dst)
    {
        long words = (long)(n / 256) * Block / 4;
        uint* group = (uint*)(data + (long)(row / Rows) * Rows * words * 4);
        int r = row % Rows;
        for (long w = 0; w < words; w++) ((uint*)dst)[w] = group[Rows * w + r];
    }

    /// <summary>The scalar twin of the kernel: what it computes for one row, given in the file's layout.</summary>
    public static float ReferenceDot(byte* w, byte* a, int n)
    {
        float acc = 0;
        for (int b = 0; b < n / 256; b++, w += Block, a += BlockBytes)
        {
            var (scales, mins) = KQuantScales.UnpackScaleMin(w + 4);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            short* bsums = (short*)(a + SumsOffset);
            byte* q = w + 16;
            int sums = 0, minSums = 0;
            for (int j = 0; j < 4; j++)
            {
                int lower = 0, upper = 0;
                for (int i = 0; i < 32; i++)
                {
                    lower += (q[32 * j + i] & 15) * y[64 * j + i];
                    upper += (q[32 * j + i] >> 4) * y[64 * j + 32 + i];
                }
                sums += KQuantScales.Byte(scales, 2 * j) * lower + KQuantScales.Byte(scales, 2 * j + 1) * upper;
            }
            for (int s = 0; s < 8; s++) minSums += KQuantScales.Byte(mins, s) * (bsums[2 * s] + bsums[2 * s + 1]);
            float da = *(float*)a;
            acc = MathF.FusedMultiplyAdd(sums, Fp16.ToSingle(w) * da, acc);
            acc = MathF.FusedMultiplyAdd(minSums, Fp16.ToSingle(w + 2) * -da, acc);
        }
        return acc;
    }

    /// <summary>VecDot.MatMulRows for an interleaved matrix: the kernel here on the AVX2 rungs, the standard kernels
    /// on un-interleaved rows on the others (which only tests pick on a machine that repacks).</summary>
    public static void MatMulRows(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                  float* output, int outputStride, KernelPath path)
    {
        if (rowEnd <= rowStart || batch == 0) return;
        if (path == KernelPath.Vector256AvxVnni)
            Kernel<AvxVnniInt8Dot>(weights, n, rowStart, rowEnd, activations, batch, output, outputStride);
        else if (path is KernelPath.Vector256Avx2 or KernelPath.Vector512 && Avx2.IsSupported && Fma.IsSupported)
            Kernel<Avx2Int8Dot>(weights, n, rowStart, rowEnd, activations, batch, output, outputStride);
        else
            Standard(weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
    }

    [ThreadStatic] private static int[]? preparedScratch;

    /// <summary>Rows [rowStart, rowEnd) through the standard MatMulRows of <paramref name="path"/>, un-interleaved a
    /// pass at a time (<see cref="Interleaved8.Uninterleaved"/>).</summary>
    private static void Standard(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                 float* output, int outputStride, KernelPath path) =>
        Interleaved8.Uninterleaved(GgmlType.Q4_K, &Deinterleave, Rows * (long)(n / 256) * Block, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);

    /// <summary>Per activation and super-block, the sub-block sums of its quants as the int16 pairs that vpmaddwd
    /// takes against the mins: (y0, y2), (y1, y3), (y4, y6), (y5, y7), where y_s = bsums[2s] + bsums[2s + 1]
    /// (|y_s| ≤ 32·128: no overflow).</summary>
    private static void Prepare(byte* activation, int blocks, int* pairs)
    {
        for (int b = 0; b < blocks; b++, pairs += 4)
        {
            short* bsums = (short*)(activation + (long)b * BlockBytes + SumsOffset);
            pairs[0] = Pair(bsums, 0, 2);
            pairs[1] = Pair(bsums, 1, 3);
            pairs[2] = Pair(bsums, 4, 6);
            pairs[3] = Pair(bsums, 5, 7);
        }
    }

    private static int Pair(short* bsums, int low, int high) =>
        (ushort)(bsums[2 * low] + bsums[2 * low + 1]) | (bsums[2 * high] + bsums[2 * high + 1]) << 16;

    /// <summary>Every group that meets [rowStart, rowEnd), four activations at a time, then two, then one; a group cut
    /// by the range is computed whole into a small buffer and its rows in range copied out.</summary>
    [SkipLocalsInit]   // every prepared value and partial output is written before it is read
    private static void Kernel<TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                     float* output, int outputStride) where TDot : IInt8Dot256
    {
        int blocks = n / 256;
        long groupBytes = (long)blocks * Record, actBytes = (long)blocks * BlockBytes;
        int prepared = batch * blocks * 4;
        int[]? heap = null;
        if (prepared > 4096)
        {
            heap = preparedScratch;
            if (heap == null || heap.Length < prepared) preparedScratch = heap = new int[prepared];
        }
        int* stack = stackalloc int[heap == null ? prepared : 0];
        float* partial = stackalloc float[4 * Rows];
        fixed (int* pinned = heap)
        {
            int* pairs = heap == null ? stack : pinned;
            for (int a = 0; a < batch; a++) Prepare(activations + a * actBytes, blocks, pairs + a * blocks * 4);
            for (int g = rowStart / Rows; g * Rows < rowEnd; g++)
            {
                int first = g * Rows;
                bool whole = first >= rowStart && first + Rows <= rowEnd;
                byte* w = weights + g * groupBytes;
                // four activations at a time, then two, then one: the kernels share each weight vector's nibble
                // split among the activations they take, and every one does the same arithmetic per activation
                for (int a = 0; a < batch;)
                {
                    int count = batch - a >= 4 ? 4 : batch - a >= 2 ? 2 : 1;
                    float* o = whole ? output + (long)a * outputStride + first : partial;
                    long stride = whole ? outputStride : Rows;
                    byte* act = activations + a * actBytes;
                    int* p = pairs + a * blocks * 4;
                    if (count == 4) Group4<TDot>(w, blocks, act, actBytes, p, blocks * 4, o, stride);
                    else if (count == 2) Group2<TDot>(w, blocks, act, actBytes, p, blocks * 4, o, stride);
                    else Group1<TDot>(w, blocks, act, p, o);
                    if (!whole) CopyOut(partial, Rows, count, first, rowStart, rowEnd, output + (long)a * outputStride, outputStride);
                    a += count;
                }
            }
        }
    }

    private static void CopyOut(float* partial, long partialStride, int count, int first, int rowStart, int rowEnd, float* output, long outputStride)
    {
        for (int k = 0; k < count; k++)
            for (int r = Math.Max(first, rowStart); r < Math.Min(first + Rows, rowEnd); r++)
                output[k * outputStride + r] = partial[k * partialStride + r - first];
    }

    /// <summary>A record's scales and mins, lane = row, in the forms the kernel takes them.</summary>
    private struct Unpacked
    {
        /// <summary>Bytes sc0..sc3 and sc4..sc7 of each lane (6 bits each): <see cref="Scale"/> spreads one to int32.</summary>
        public Vector256<byte> ScalesLow, ScalesHigh;
        /// <summary>The mins as int16 pairs per lane: (m0, m2), (m1, m3), (m4, m6), (m5, m7).</summary>
        public Vector256<short> Mins02, Mins13, Mins46, Mins57;
        public Vector256<float> D, DMin;
    }

    /// <summary>KQuantScales.UnpackScaleMin, lane-wise: word p0..p3 (A) holds sc0..3 and the top bits of sc4..7,
    /// p4..p7 (B) m0..3 and the top bits of m4..7, p8..p11 (C) the low nibbles of sc4..7 and m4..7. d and dmin are
    /// converted exactly (no fp32 subnormal is ever formed: a multiply that reads one takes a microcode assist).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Unpacked Unpack(byte* record)
    {
        var halves = Vector256.Load((uint*)record);
        var a = Vector256.Load((uint*)(record + 32));
        var b = Vector256.Load((uint*)(record + 64));
        var c = Vector256.Load((uint*)(record + 96));
        var six = Vector256.Create(0x3F3F_3F3Fu);
        var low = Vector256.Create(0x0F0F_0F0Fu);
        var top = Vector256.Create(0x3030_3030u);
        var minsLow = b & six;
        var minsHigh = ((c >>> 4) & low) | ((b >>> 2) & top);
        var bytePairs = Vector256.Create(0x00FF_00FFu);
        return new Unpacked
        {
            ScalesLow = (a & six).AsByte(),
            ScalesHigh = ((c & low) | ((a >>> 2) & top)).AsByte(),
            Mins02 = (minsLow & bytePairs).AsInt16(),
            Mins13 = (minsLow.AsUInt16() >>> 8).AsInt16(),
            Mins46 = (minsHigh & bytePairs).AsInt16(),
            Mins57 = (minsHigh.AsUInt16() >>> 8).AsInt16(),
            D = Fp16.ToSingle(halves & Vector256.Create(0xFFFFu)),
            DMin = Fp16.ToSingle(halves >>> 16),
        };
    }

    /// <summary>Byte k of every lane of <paramref name="bytes"/> as that lane's int32 (one vpshufb).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scale(Vector256<byte> bytes, uint k)
    {
        ulong pick = k | 0x8080_8000u | (ulong)(k + 4 | 0x8080_8000u) << 32;
        ulong next = pick + 0x0000_0008_0000_0008UL;
        return Avx2.Shuffle(bytes, Vector256.Create(pick, next, pick, next).AsByte()).AsInt32();
    }

    /// <summary>Σ_s m_s · y_s per lane, from one activation super-block's prepared pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinSums(in Unpacked u, int* pairs) =>
        (Avx2.MultiplyAddAdjacent(u.Mins02, Vector256.Create(pairs[0]).AsInt16()) + Avx2.MultiplyAddAdjacent(u.Mins13, Vector256.Create(pairs[1]).AsInt16()))
      + (Avx2.MultiplyAddAdjacent(u.Mins46, Vector256.Create(pairs[2]).AsInt16()) + Avx2.MultiplyAddAdjacent(u.Mins57, Vector256.Create(pairs[3]).AsInt16()));

    /// <summary>The end of one super-block for one activation: acc + S·(d·d_a) + M·(dmin·(-d_a)), two roundings, as in
    /// <see cref="ReferenceDot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(in Unpacked u, Vector256<int> sums, Vector256<int> minSums, float da, Vector256<float> acc)
    {
        acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), u.D * Vector256.Create(da), acc);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(minSums), u.DMin * Vector256.Create(-da), acc);
    }

    /// <summary>A weight vector's high nibbles as the one-activation kernel's unsigned operand. With vpdpbusd (no 16-bit step) they
    /// stay in place, 16·h, one AND instead of a shift and an AND (a 32-byte step went from 9 instructions to 8), and
    /// <see cref="HighSum{TDot}"/> takes the chain's sum back down: every product is a multiple of 16, so the shift is
    /// exact, and |sum| ≤ 8 · 4 · 240 · 128 fits easily. vpmaddubsw would saturate 16·h · y in its 16-bit step, so
    /// the AVX2 rung shifts the nibbles down first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High<TDot>(Vector256<byte> v) where TDot : IInt8Dot256 =>
        typeof(TDot) == typeof(AvxVnniInt8Dot) ? v & Vector256.Create((byte)0xF0) : Simd256.Bits(v, 4, 0x0F);

    /// <summary>A high-nibble chain's sum as Σ h · y (see <see cref="High{TDot}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> HighSum<TDot>(Vector256<int> sum) where TDot : IInt8Dot256 =>
        typeof(TDot) == typeof(AvxVnniInt8Dot) ? sum >> 4 : sum;

    /// <summary>Prefetches one record (18 lines) <paramref name="ahead"/> bytes past it (prompts and small batches).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRecord(byte* record, long ahead)
    {
        if (ahead <= 0) return;
        byte* p = record + ahead;
        for (int line = 0; line < Record; line += 64) Sse.Prefetch0(p + line);
    }

    /// <summary>The decode kernel's record prefetch: each line twice, non-temporal, the second further on (<see cref="Block32Rows.PrefetchLine"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRecordDecode(byte* record, long ahead)
    {
        if (ahead <= 0) return;
        byte* p = record + ahead;
        for (int line = 0; line < Record; line += 64) Block32Rows.PrefetchLine(p + line);
    }

    /// <summary>One group of eight rows against one activation into o[0..7].</summary>
    private static void Group1<TDot>(byte* w, int blocks, byte* a, int* pairs, float* o) where TDot : IInt8Dot256
    {
        var acc = Vector256<float>.Zero;
        long ahead = Block32Rows.PrefetchAhead;
        for (int b = 0; b < blocks; b++, w += Record, a += BlockBytes, pairs += 4)
        {
            PrefetchRecordDecode(w, ahead);
            var u = Unpack(w);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            byte* q = w + 128;
            var sums = (Chunk1<TDot>(q, y, Scale(u.ScalesLow, 0), Scale(u.ScalesLow, 1))
                      + Chunk1<TDot>(q + 256, y + 64, Scale(u.ScalesLow, 2), Scale(u.ScalesLow, 3)))
                     + (Chunk1<TDot>(q + 512, y + 128, Scale(u.ScalesHigh, 0), Scale(u.ScalesHigh, 1))
                      + Chunk1<TDot>(q + 768, y + 192, Scale(u.ScalesHigh, 2), Scale(u.ScalesHigh, 3)));
            acc = Finish(u, sums, MinSums(u, pairs), *(float*)a, acc);
        }
        acc.Store(o);
    }

    /// <summary>64-element chunk j of one super-block (eight vectors at q) against one activation's 64 quants at y:
    /// Σ sc_low · (low-nibble dot) + sc_high · (high-nibble dot) per lane, as four chains of two byte dots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk1<TDot>(byte* q, sbyte* y, Vector256<int> scaleLow, Vector256<int> scaleHigh) where TDot : IInt8Dot256
    {
        // written out: a loop kept its index arithmetic; and without AVX-512 the VEX vpdpbusd reaches ymm0..15 only (with it the JIT emits the EVEX form), so few live vectors
        Vector256<int> low0 = default, low1 = default, high0 = default, high1 = default;
        Step1<TDot>(q, y, 0, ref low0, ref high0);
        Step1<TDot>(q, y, 4, ref low1, ref high1);
        Step1<TDot>(q, y, 8, ref low0, ref high0);
        Step1<TDot>(q, y, 12, ref low1, ref high1);
        Step1<TDot>(q, y, 16, ref low0, ref high0);
        Step1<TDot>(q, y, 20, ref low1, ref high1);
        Step1<TDot>(q, y, 24, ref low0, ref high0);
        Step1<TDot>(q, y, 28, ref low1, ref high1);
        return (low0 + low1) * scaleLow + HighSum<TDot>(high0 + high1) * scaleHigh;
    }

    /// <summary>Weight vector k / 4 of the chunk at q split into nibbles and dotted with one activation's bytes k..k+3
    /// (low) and k+32..k+35 (high). The offset is a constant, so both broadcasts address [y + constant] (passing y + k
    /// instead cost an lea per step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step1<TDot>(byte* q, sbyte* y, int k, ref Vector256<int> low, ref Vector256<int> high) where TDot : IInt8Dot256
    {
        var v = Vector256.Load(q + 8 * k);
        low = TDot.MultiplyAdd(low, v & Vector256.Create((byte)0x0F), Vector256.Create(*(int*)(y + k)).AsSByte());
        high = TDot.MultiplyAdd(high, High<TDot>(v), Vector256.Create(*(int*)(y + k + 32)).AsSByte());
    }

    /// <summary>One group of eight rows against four activations (actBytes apart; prepared pairs pairStride ints
    /// apart) into o + k · stride: each weight vector is loaded and split into nibbles once for the four. Per
    /// activation, the same integers and the same two fused steps per super-block as <see cref="Group1{TDot}"/>.</summary>
    private static void Group4<TDot>(byte* w, int blocks, byte* a, long actBytes, int* pairs, int pairStride, float* o, long stride)
        where TDot : IInt8Dot256
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        long ahead = Block32Rows.PrefetchAhead;
        for (int b = 0; b < blocks; b++, w += Record, a += BlockBytes, pairs += 4)
        {
            PrefetchRecord(w, ahead);
            var u = Unpack(w);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            byte* q = w + 128;
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            Chunk4<TDot>(q, y, actBytes, Scale(u.ScalesLow, 0), Scale(u.ScalesLow, 1), ref s0, ref s1, ref s2, ref s3);
            Chunk4<TDot>(q + 256, y + 64, actBytes, Scale(u.ScalesLow, 2), Scale(u.ScalesLow, 3), ref s0, ref s1, ref s2, ref s3);
            Chunk4<TDot>(q + 512, y + 128, actBytes, Scale(u.ScalesHigh, 0), Scale(u.ScalesHigh, 1), ref s0, ref s1, ref s2, ref s3);
            Chunk4<TDot>(q + 768, y + 192, actBytes, Scale(u.ScalesHigh, 2), Scale(u.ScalesHigh, 3), ref s0, ref s1, ref s2, ref s3);
            acc0 = Finish(u, s0, MinSums(u, pairs), *(float*)a, acc0);
            acc1 = Finish(u, s1, MinSums(u, pairs + pairStride), *(float*)(a + actBytes), acc1);
            acc2 = Finish(u, s2, MinSums(u, pairs + 2 * pairStride), *(float*)(a + 2 * actBytes), acc2);
            acc3 = Finish(u, s3, MinSums(u, pairs + 3 * pairStride), *(float*)(a + 3 * actBytes), acc3);
        }
        acc0.Store(o);
        acc1.Store(o + stride);
        acc2.Store(o + 2 * stride);
        acc3.Store(o + 3 * stride);
    }

    /// <summary>One weight vector (words of eight rows) split into nibbles once and dotted with four activations'
    /// bytes (y, y + actBytes, ...): low nibbles against bytes 0..3, high nibbles against 32..35.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step4<TDot>(byte* q, sbyte* y, long actBytes,
                                    ref Vector256<int> low0, ref Vector256<int> low1, ref Vector256<int> low2, ref Vector256<int> low3,
                                    ref Vector256<int> high0, ref Vector256<int> high1, ref Vector256<int> high2, ref Vector256<int> high3)
        where TDot : IInt8Dot256
    {
        var v = Vector256.Load(q);
        var lo = v & Vector256.Create((byte)0x0F);
        var hi = Simd256.Bits(v, 4, 0x0F);   // not High: in this kernel its second mask made the JIT spill (1183 instructions, 300 stack accesses, pp512 a third slower)
        Dot2<TDot>(lo, hi, y, actBytes, ref low0, ref low1, ref high0, ref high1);
        Dot2<TDot>(lo, hi, y + 2 * actBytes, actBytes, ref low2, ref low3, ref high2, ref high3);
    }

    /// <summary>A weight vector's nibbles (lo, hi) against two activations' bytes (y, y + actBytes): 0..3 and 32..35.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot2<TDot>(Vector256<byte> lo, Vector256<byte> hi, sbyte* y, long actBytes,
                                   ref Vector256<int> low0, ref Vector256<int> low1, ref Vector256<int> high0, ref Vector256<int> high1)
        where TDot : IInt8Dot256
    {
        low0 = TDot.MultiplyAdd(low0, lo, Vector256.Create(*(int*)y).AsSByte());
        low1 = TDot.MultiplyAdd(low1, lo, Vector256.Create(*(int*)(y + actBytes)).AsSByte());
        high0 = TDot.MultiplyAdd(high0, hi, Vector256.Create(*(int*)(y + 32)).AsSByte());
        high1 = TDot.MultiplyAdd(high1, hi, Vector256.Create(*(int*)(y + actBytes + 32)).AsSByte());
    }

    /// <summary><see cref="Chunk1{TDot}"/> for four activations at once (y, y + actBytes, ...), added into s0..s3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk4<TDot>(byte* q, sbyte* y, long actBytes, Vector256<int> scaleLow, Vector256<int> scaleHigh,
                                     ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3)
        where TDot : IInt8Dot256
    {
        Vector256<int> low0 = default, low1 = default, low2 = default, low3 = default;
        Vector256<int> high0 = default, high1 = default, high2 = default, high3 = default;
        Step4<TDot>(q + 0, y + 0, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 32, y + 4, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 64, y + 8, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 96, y + 12, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 128, y + 16, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 160, y + 20, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 192, y + 24, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        Step4<TDot>(q + 224, y + 28, actBytes, ref low0, ref low1, ref low2, ref low3, ref high0, ref high1, ref high2, ref high3);
        s0 += low0 * scaleLow + high0 * scaleHigh;
        s1 += low1 * scaleLow + high1 * scaleHigh;
        s2 += low2 * scaleLow + high2 * scaleHigh;
        s3 += low3 * scaleLow + high3 * scaleHigh;
    }

    /// <summary><see cref="Group4{TDot}"/> for two activations (two or three sequences decoded together, and what is
    /// left of a batch after its fours): the same integers and fused steps per activation.</summary>
    private static void Group2<TDot>(byte* w, int blocks, byte* a, long actBytes, int* pairs, int pairStride, float* o, long stride)
        where TDot : IInt8Dot256
    {
        Vector256<float> acc0 = default, acc1 = default;
        long ahead = Block32Rows.PrefetchAhead;
        for (int b = 0; b < blocks; b++, w += Record, a += BlockBytes, pairs += 4)
        {
            PrefetchRecord(w, ahead);
            var u = Unpack(w);
            sbyte* y = (sbyte*)(a + QuantsOffset);
            byte* q = w + 128;
            Vector256<int> s0 = default, s1 = default;
            Chunk2<TDot>(q, y, actBytes, Scale(u.ScalesLow, 0), Scale(u.ScalesLow, 1), ref s0, ref s1);
            Chunk2<TDot>(q + 256, y + 64, actBytes, Scale(u.ScalesLow, 2), Scale(u.ScalesLow, 3), ref s0, ref s1);
            Chunk2<TDot>(q + 512, y + 128, actBytes, Scale(u.ScalesHigh, 0), Scale(u.ScalesHigh, 1), ref s0, ref s1);
            Chunk2<TDot>(q + 768, y + 192, actBytes, Scale(u.ScalesHigh, 2), Scale(u.ScalesHigh, 3), ref s0, ref s1);
            acc0 = Finish(u, s0, MinSums(u, pairs), *(float*)a, acc0);
            acc1 = Finish(u, s1, MinSums(u, pairs + pairStride), *(float*)(a + actBytes), acc1);
        }
        acc0.Store(o);
        acc1.Store(o + stride);
    }

    /// <summary><see cref="Chunk4{TDot}"/> for two activations: two chains each for the low and high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk2<TDot>(byte* q, sbyte* y, long actBytes, Vector256<int> scaleLow, Vector256<int> scaleHigh,
                                     ref Vector256<int> s0, ref Vector256<int> s1) where TDot : IInt8Dot256
    {
        Vector256<int> low0 = default, low1 = default, high0 = default, high1 = default;
        Vector256<int> low0b = default, low1b = default, high0b = default, high1b = default;
        Step2<TDot>(q + 0, y + 0, actBytes, ref low0, ref low1, ref high0, ref high1);
        Step2<TDot>(q + 32, y + 4, actBytes, ref low0b, ref low1b, ref high0b, ref high1b);
        Step2<TDot>(q + 64, y + 8, actBytes, ref low0, ref low1, ref high0, ref high1);
        Step2<TDot>(q + 96, y + 12, actBytes, ref low0b, ref low1b, ref high0b, ref high1b);
        Step2<TDot>(q + 128, y + 16, actBytes, ref low0, ref low1, ref high0, ref high1);
        Step2<TDot>(q + 160, y + 20, actBytes, ref low0b, ref low1b, ref high0b, ref high1b);
        Step2<TDot>(q + 192, y + 24, actBytes, ref low0, ref low1, ref high0, ref high1);
        Step2<TDot>(q + 224, y + 28, actBytes, ref low0b, ref low1b, ref high0b, ref high1b);
        s0 += (low0 + low0b) * scaleLow + (high0 + high0b) * scaleHigh;
        s1 += (low1 + low1b) * scaleLow + (high1 + high1b) * scaleHigh;
    }

    /// <summary>One weight vector split into nibbles once and dotted with two activations' bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step2<TDot>(byte* q, sbyte* y, long actBytes,
                                    ref Vector256<int> low0, ref Vector256<int> low1, ref Vector256<int> high0, ref Vector256<int> high1)
        where TDot : IInt8Dot256
    {
        var v = Vector256.Load(q);
        Dot2<TDot>(v & Vector256.Create((byte)0x0F), Simd256.Bits(v, 4, 0x0F), y, actBytes, ref low0, ref low1, ref high0, ref high1);
    }
}

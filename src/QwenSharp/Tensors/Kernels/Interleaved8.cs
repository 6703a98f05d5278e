using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Kernels;

/// <summary>A 32-element block type (an fp16 d, then its quants) that <see cref="Interleaved8{TBlock}"/> can repack:
/// its quant bytes as int32 words, stored so that they feed vpdpbusd unsigned (value = stored - Bias).</summary>
internal unsafe interface IInterleavedBlock
{
    static abstract GgmlType Type { get; }
    /// <summary>Bytes of one block in the file (d + quants).</summary>
    static abstract int BlockBytes { get; }
    /// <summary>Quant bytes per block: 16 (Q4_0's 32 nibbles) or 32 (Q8_0).</summary>
    static abstract int QuantBytes { get; }
    /// <summary>What the stored unsigned values carry: value = stored - Bias (Q4_0's nibbles: 8; Q8_0's bytes,
    /// stored with the sign bit flipped: 128).</summary>
    static abstract int Bias { get; }
    /// <summary>XORed into every quant word when interleaving (and again when un-interleaving).</summary>
    static abstract uint StoredXor { get; }
    /// <summary>Whether AVX2's vpmaddubsw may take the stored bytes (pair sums below 32768): Q4_0's nibbles yes,
    /// Q8_0's q + 128 no, so Q8_0 is only interleaved, and computed so, with AVX-VNNI.</summary>
    static abstract bool FitsMaddubs { get; }

    /// <summary>The eight rows' integer sums of one interleaved block record against one activation block's quants
    /// y, starting from init (which carries -Bias·Σ q_a): lane r = row r.</summary>
    static abstract Vector256<int> Sums<TDot>(byte* record, sbyte* y, Vector256<int> init) where TDot : IInt8Dot256;
}

/// <summary>Q4_0: four 32-byte vectors j; the low nibbles of vector j are row r's elements 4j..4j+3 in lane r, the
/// high nibbles its elements 16+4j..16+4j+3.</summary>
internal readonly unsafe struct Q4_0Interleaved : IInterleavedBlock
{
    public static GgmlType Type => GgmlType.Q4_0;
    public static int BlockBytes => 18;
    public static int QuantBytes => 16;
    public static int Bias => 8;
    public static uint StoredXor => 0;
    public static bool FitsMaddubs => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums<TDot>(byte* p, sbyte* y, Vector256<int> init) where TDot : IInt8Dot256
    {
        var nibble = Vector256.Create((byte)0x0F);
        var v0 = Vector256.Load(p + 16);
        var v1 = Vector256.Load(p + 48);
        var v2 = Vector256.Load(p + 80);
        var v3 = Vector256.Load(p + 112);
        // two chains of four: a vpdpbusd takes five cycles
        var low = TDot.MultiplyAdd(init, v0 & nibble, Vector256.Create(*(int*)y).AsSByte());
        var high = TDot.MultiplyAdd(Vector256<int>.Zero, Simd256.Bits(v0, 4, 0x0F), Vector256.Create(*(int*)(y + 16)).AsSByte());
        low = TDot.MultiplyAdd(low, v1 & nibble, Vector256.Create(*(int*)(y + 4)).AsSByte());
        high = TDot.MultiplyAdd(high, Simd256.Bits(v1, 4, 0x0F), Vector256.Create(*(int*)(y + 20)).AsSByte());
        low = TDot.MultiplyAdd(low, v2 & nibble, Vector256.Create(*(int*)(y + 8)).AsSByte());
        high = TDot.MultiplyAdd(high, Simd256.Bits(v2, 4, 0x0F), Vector256.Create(*(int*)(y + 24)).AsSByte());
        low = TDot.MultiplyAdd(low, v3 & nibble, Vector256.Create(*(int*)(y + 12)).AsSByte());
        high = TDot.MultiplyAdd(high, Simd256.Bits(v3, 4, 0x0F), Vector256.Create(*(int*)(y + 28)).AsSByte());
        return low + high;
    }
}

/// <summary>Q8_0: eight 32-byte vectors j; lane r of vector j is row r's bytes 4j..4j+3 with the sign bit flipped
/// (q + 128).</summary>
internal readonly unsafe struct Q8_0Interleaved : IInterleavedBlock
{
    public static GgmlType Type => GgmlType.Q8_0;
    public static int BlockBytes => 34;
    public static int QuantBytes => 32;
    public static int Bias => 128;
    public static uint StoredXor => 0x8080_8080;
    public static bool FitsMaddubs => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Sums<TDot>(byte* p, sbyte* y, Vector256<int> init) where TDot : IInt8Dot256
    {
        var a = TDot.MultiplyAdd(init, Vector256.Load(p + 16), Vector256.Create(*(int*)y).AsSByte());
        var b = TDot.MultiplyAdd(Vector256<int>.Zero, Vector256.Load(p + 48), Vector256.Create(*(int*)(y + 4)).AsSByte());
        a = TDot.MultiplyAdd(a, Vector256.Load(p + 80), Vector256.Create(*(int*)(y + 8)).AsSByte());
        b = TDot.MultiplyAdd(b, Vector256.Load(p + 112), Vector256.Create(*(int*)(y + 12)).AsSByte());
        a = TDot.MultiplyAdd(a, Vector256.Load(p + 144), Vector256.Create(*(int*)(y + 16)).AsSByte());
        b = TDot.MultiplyAdd(b, Vector256.Load(p + 176), Vector256.Create(*(int*)(y + 20)).AsSByte());
        a = TDot.MultiplyAdd(a, Vector256.Load(p + 208), Vector256.Create(*(int*)(y + 24)).AsSByte());
        b = TDot.MultiplyAdd(b, Vector256.Load(p + 240), Vector256.Create(*(int*)(y + 28)).AsSByte());
        return a + b;
    }
}

/// <summary>The interleaved layout's entry points by weight type.</summary>
internal static unsafe class Interleaved8
{
    /// <summary>One type's layout: its eligibility and its four operations.</summary>
    private readonly struct Layout(
        delegate*<int, int, bool> eligible,
        delegate*<byte*, int, int, void> interleave,
        delegate*<byte*, byte*, int, int, void> deinterleave,
        delegate*<byte*, int, int, byte*, void> copyRow,
        delegate*<byte*, int, int, int, byte*, int, float*, int, KernelPath, void> matMulRows)
    {
        public readonly delegate*<int, int, bool> Eligible = eligible;
        public readonly delegate*<byte*, int, int, void> Interleave = interleave;
        public readonly delegate*<byte*, byte*, int, int, void> Deinterleave = deinterleave;
        public readonly delegate*<byte*, int, int, byte*, void> CopyRow = copyRow;
        public readonly delegate*<byte*, int, int, int, byte*, int, float*, int, KernelPath, void> MatMulRows = matMulRows;
    }

    /// <summary>The types with an interleaved layout: Q4_0 and Q8_0 (<see cref="Interleaved8{TBlock}"/>), Q4_K
    /// (<see cref="Q4_KInterleaved8"/>), Q6_K (<see cref="Q6_KInterleaved"/>: four rows block by block, read through
    /// this API in units of eight rows); null for the others.</summary>
    private static Layout? For(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => new Layout(&Interleaved8<Q4_0Interleaved>.Eligible, &Interleaved8<Q4_0Interleaved>.Interleave,
            &Interleaved8<Q4_0Interleaved>.Deinterleave, &Interleaved8<Q4_0Interleaved>.CopyRow, &Interleaved8<Q4_0Interleaved>.MatMulRows),
        GgmlType.Q8_0 => new Layout(&Interleaved8<Q8_0Interleaved>.Eligible, &Interleaved8<Q8_0Interleaved>.Interleave,
            &Interleaved8<Q8_0Interleaved>.Deinterleave, &Interleaved8<Q8_0Interleaved>.CopyRow, &Interleaved8<Q8_0Interleaved>.MatMulRows),
        GgmlType.Q4_K => new Layout(&Q4_KInterleaved8.Eligible, &Q4_KInterleaved8.Interleave,
            &Q4_KInterleaved8.Deinterleave, &Q4_KInterleaved8.CopyRow, &Q4_KInterleaved8.MatMulRows),
        GgmlType.Q6_K => new Layout(&Q6_KInterleaved.Eligible, &Q6_KInterleaved.Interleave,
            &Q6_KInterleaved.Deinterleave, &Q6_KInterleaved.CopyRow, &Q6_KInterleaved.MatMulRows),
        _ => null,
    };

    private static Layout Require(GgmlType type) =>
        For(type) ?? throw new QwenSharpException($"no interleaved layout for {GgmlTypeInfo.Name(type)}");

    /// <summary>Whether the type has an interleaved layout at all (on some machine).</summary>
    public static bool HasLayout(GgmlType type) => For(type) != null;

    /// <summary>Whether a rows × n matrix of this type can be interleaved on this machine: whole groups of eight rows
    /// and whole 256-element rows, and the instructions its kernel needs (Q4_0, Q4_K: AVX2 + FMA; Q8_0: AVX-VNNI; Q6_K:
    /// Q6_KRows512's AVX-512 BW/DQ/VL, GFNI and AVX-VNNI).</summary>
    public static bool Eligible(GgmlType type, int rows, int n) => For(type) is { } layout && layout.Eligible(rows, n);

    public static void Interleave(GgmlType type, byte* data, int rows, int n) => Require(type).Interleave(data, rows, n);

    public static void Deinterleave(GgmlType type, byte* src, byte* dst, int groups, int n) => Require(type).Deinterleave(src, dst, groups, n);

    /// <summary>Row <paramref name="row"/> of an interleaved rows × n matrix, in the file's layout, into dst
    /// (an embedding lookup).</summary>
    public static void CopyRow(GgmlType type, byte* data, int row, int n, byte* dst) => Require(type).CopyRow(data, row, n, dst);

    public static void MatMulRows(GgmlType type, byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                  float* output, int outputStride, KernelPath path) =>
        Require(type).MatMulRows(weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);

    /// <summary>Per-thread scratch for un-interleaved rows: grown once, then reused.</summary>
    [ThreadStatic] private static byte[]? rowScratch;

    /// <summary>Rows un-interleaved per pass: about 1 MiB of weights (L2-sized), at least one group. Each pass is
    /// one call of the standard kernel, which re-lays out its activations per call, so passes are kept large.</summary>
    private const long PassBytes = 1 << 20;

    /// <summary>Rows [rowStart, rowEnd) of a matrix repacked in groups of eight rows (groupBytes each) through the
    /// standard MatMulRows of <paramref name="path"/>: the groups that hold them are un-interleaved by
    /// <paramref name="deinterleave"/> (src, dst, groups, n) a pass at a time into per-thread scratch, whose base is
    /// offset so that row indices stay the matrix's own. For batches and rungs a layout's own kernels do not take.</summary>
    internal static void Uninterleaved(GgmlType type, delegate*<byte*, byte*, int, int, void> deinterleave, long groupBytes,
                                       byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                       float* output, int outputStride, KernelPath path)
    {
        const int Rows = 8;
        int groupsPerPass = (int)Math.Max(1, PassBytes / groupBytes);
        int firstGroup = rowStart / Rows, endGroup = (rowEnd + Rows - 1) / Rows;
        int passGroups = Math.Min(groupsPerPass, endGroup - firstGroup);
        var buffer = rowScratch;
        if (buffer == null || buffer.Length < passGroups * groupBytes) rowScratch = buffer = new byte[passGroups * groupBytes];
        fixed (byte* scratch = buffer)
            for (int g = firstGroup; g < endGroup; g += groupsPerPass)
            {
                int count = Math.Min(groupsPerPass, endGroup - g);
                deinterleave(weights + g * groupBytes, scratch, count, n);
                int from = Math.Max(rowStart, g * Rows), to = Math.Min(rowEnd, (g + count) * Rows);
                // the scratch holds rows g·8 .. (g + count)·8; index it as if it were the whole matrix
                VecDot.MatMulRows(type, scratch - g * groupBytes, n, from, to, activations, batch, output, outputStride, path);
            }
    }

    /// <summary>Stores the transpose of the 4×4 dword matrix whose rows are a..d: its row i (a[i], b[i], c[i], d[i])
    /// at dst + i · stride (unaligned).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose4(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d, byte* dst, long stride)
    {
        var ab0 = Sse2.UnpackLow(a, b);    // a0 b0 a1 b1
        var ab1 = Sse2.UnpackHigh(a, b);   // a2 b2 a3 b3
        var cd0 = Sse2.UnpackLow(c, d);
        var cd1 = Sse2.UnpackHigh(c, d);
        Sse2.UnpackLow(ab0.AsUInt64(), cd0.AsUInt64()).Store((ulong*)dst);
        Sse2.UnpackHigh(ab0.AsUInt64(), cd0.AsUInt64()).Store((ulong*)(dst + stride));
        Sse2.UnpackLow(ab1.AsUInt64(), cd1.AsUInt64()).Store((ulong*)(dst + 2 * stride));
        Sse2.UnpackHigh(ab1.AsUInt64(), cd1.AsUInt64()).Store((ulong*)(dst + 3 * stride));
    }

}

/// <summary>Q4_0 / Q8_0 weights repacked at load so that a decode matvec needs no gather and no horizontal
/// reduction: eight rows interleaved block by block. A group of eight rows keeps its 8 · rowBytes bytes; inside it,
/// block b of the eight rows is one record (144 / 272 bytes) at b · record:
/// <code>
///   bytes   0..15   d of rows 0..7 (fp16)
///   bytes  16..     QuantBytes / 4 vectors of 32 bytes j: int32 lane r = row r's quant bytes 4j..4j+3
/// </code>
/// (see <see cref="Q4_0Interleaved"/>, <see cref="Q8_0Interleaved"/>), and a vpdpbusd against the activation's four
/// bytes broadcast to every lane leaves each row's partial sum in its own lane. Rows stay whole groups (rows % 8 ==
/// 0) and rows whole groups of eight blocks (n % 256 == 0): see <see cref="Eligible"/>.
///
/// Every output is bit-identical to <see cref="Block32Dot.Dot256{TKernel,TDot}"/> of the original row (and so to
/// PairedRows, the tile and the small-batch kernels): the single-row dot accumulates block b's exact integer sum
/// times d_w·d_a (one rounding) into lane b mod 8 of its accumulator by a fused multiply-add, then sums the lanes;
/// here accumulator k (lanes = rows) takes every block b ≡ k (mod 8) the same way, and the lanes' final sum is done
/// across the eight accumulators with the same tree of additions, all rows at once. Batches of 2..16 (several
/// sequences) have a kernel of their own; larger batches (prompts) un-interleave the rows they need into per-thread
/// scratch and run the standard kernels on it.</summary>
internal static unsafe class Interleaved8<TBlock> where TBlock : IInterleavedBlock
{
    private const int ActBlock = 34, Rows = 8;
    // constants of each instantiation; forced inline: in the 8-block loops the JIT's inlining budget otherwise ran out
    // and left 16 calls of get_Record per group of eight blocks (the kernel ran at 0.66× its speed)
    private static int Block { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => TBlock.BlockBytes; }
    private static int Record { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => 16 + 8 * TBlock.QuantBytes; }


    /// <summary>Whole groups of eight rows and of eight blocks, on a machine where the decode kernel here runs (AVX2 +
    /// FMA, and AVX-VNNI for a type too wide for vpmaddubsw).</summary>
    public static bool Eligible(int rows, int n) =>
        rows > 0 && rows % Rows == 0 && n > 0 && n % 256 == 0 && Avx2.IsSupported && Fma.IsSupported && (TBlock.FitsMaddubs || AvxVnni.IsSupported);

    /// <summary>Rewrites a rows × n matrix in place into the interleaved layout (same size).</summary>
    public static void Interleave(byte* data, int rows, int n)
    {
        long rowBytes = (long)(n / 32) * Block, groupBytes = Rows * rowBytes;
        var copy = new byte[groupBytes];
        fixed (byte* original = copy)
            for (int g = 0; g < rows / Rows; g++)
            {
                byte* group = data + g * groupBytes;
                Buffer.MemoryCopy(group, original, groupBytes, groupBytes);
                InterleaveGroup(original, group, n);
            }
    }

    /// <summary>Eight standard rows at src into one interleaved group at dst (distinct buffers): per block, each
    /// 16-byte half of the eight rows' quants goes through two 4×4 dword transposes (rows 0..3 and 4..7).</summary>
    internal static void InterleaveGroup(byte* src, byte* dst, int n)
    {
        int blocks = n / 32;
        long rowBytes = (long)blocks * Block;
        var flip = Vector128.Create(TBlock.StoredXor);
        for (int b = 0; b < blocks; b++, dst += Record)
        {
            byte* block = src + b * Block;
            for (int r = 0; r < Rows; r++) *(ushort*)(dst + 2 * r) = *(ushort*)(block + r * rowBytes);
            for (int half = 0; half < TBlock.QuantBytes / 16; half++)
                for (int four = 0; four < 2; four++)
                {
                    byte* q = block + 4 * four * rowBytes + 2 + 16 * half;
                    Interleaved8.Transpose4(Vector128.Load((uint*)q) ^ flip, Vector128.Load((uint*)(q + rowBytes)) ^ flip,
                               Vector128.Load((uint*)(q + 2 * rowBytes)) ^ flip, Vector128.Load((uint*)(q + 3 * rowBytes)) ^ flip,
                               dst + 16 + 128 * half + 16 * four, 32);
                }
        }
    }

    /// <summary>The inverse: <paramref name="groups"/> interleaved groups at src back to 8 · groups standard rows at dst.</summary>
    internal static void Deinterleave(byte* src, byte* dst, int groups, int n)
    {
        int blocks = n / 32;
        long rowBytes = (long)blocks * Block;
        var flip = Vector128.Create(TBlock.StoredXor);
        for (int g = 0; g < groups; g++, dst += Rows * rowBytes)
            for (int b = 0; b < blocks; b++, src += Record)
            {
                byte* block = dst + b * Block;
                for (int r = 0; r < Rows; r++) *(ushort*)(block + r * rowBytes) = *(ushort*)(src + 2 * r);
                for (int half = 0; half < TBlock.QuantBytes / 16; half++)
                    for (int four = 0; four < 2; four++)
                    {
                        byte* v = src + 16 + 128 * half + 16 * four;   // vector j's lanes of rows 4·four .. 4·four + 3
                        Interleaved8.Transpose4(Vector128.Load((uint*)v) ^ flip, Vector128.Load((uint*)(v + 32)) ^ flip,
                                   Vector128.Load((uint*)(v + 64)) ^ flip, Vector128.Load((uint*)(v + 96)) ^ flip,
                                   block + 4 * four * rowBytes + 2 + 16 * half, rowBytes);
                    }
            }
    }

    /// <summary>One row back in the file's layout: its d and quant words picked out of each record of its group.</summary>
    internal static void CopyRow(byte* data, int row, int n, byte* dst)
    {
        int blocks = n / 32, r = row % Rows;
        byte* record = data + (long)(row / Rows) * Rows * blocks * Block;
        for (int b = 0; b < blocks; b++, record += Record, dst += Block)
        {
            *(ushort*)dst = *(ushort*)(record + 2 * r);
            for (int j = 0; j < TBlock.QuantBytes / 4; j++) *(uint*)(dst + 2 + 4 * j) = *(uint*)(record + 16 + 32 * j + 4 * r) ^ TBlock.StoredXor;
        }
    }

    /// <summary>VecDot.MatMulRows for an interleaved matrix: batches of 1 and 2..16 by the kernels here (on a rung
    /// that runs them), other batches and rungs through the standard kernels on un-interleaved rows.</summary>
    public static void MatMulRows(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                  float* output, int outputStride, KernelPath path)
    {
        if (rowEnd <= rowStart || batch == 0) return;
        bool vnni = path == KernelPath.Vector256AvxVnni;
        if (vnni || (TBlock.FitsMaddubs && path is KernelPath.Vector256Avx2 or KernelPath.Vector512))
        {
            if (batch == 1)
            {
                if (vnni) MatVec<AvxVnniInt8Dot>(weights, n, rowStart, rowEnd, activations, output);
                else MatVec<Avx2Int8Dot>(weights, n, rowStart, rowEnd, activations, output);
                return;
            }
            if (batch <= SmallBatchKernels.MaxBatchFor(TBlock.Type) && !VecDot.TilesOnly)
            {
                if (vnni) SmallBatch<AvxVnniInt8Dot>(weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
                else SmallBatch<Avx2Int8Dot>(weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
                return;
            }
        }
        Standard(weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);
    }

    /// <summary>Rows [rowStart, rowEnd) through the standard MatMulRows of <paramref name="path"/>, un-interleaved a
    /// pass at a time (<see cref="Interleaved8.Uninterleaved"/>).</summary>
    private static void Standard(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                 float* output, int outputStride, KernelPath path) =>
        Interleaved8.Uninterleaved(TBlock.Type, &Deinterleave, Rows * (long)(n / 32) * Block, weights, n, rowStart, rowEnd, activations, batch, output, outputStride, path);

    /// <summary>Batch-1 rows [rowStart, rowEnd): whole groups by the interleaved kernel; a group cut by the range
    /// is computed whole into a small buffer and the rows in range copied out.</summary>
    [SkipLocalsInit]   // every prepared value is written before it is read
    private static void MatVec<TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activation, float* output)
        where TDot : IInt8Dot256
    {
        int blocks = n / 32;
        long groupBytes = Rows * (long)blocks * Block;
        // per activation block: -Bias·Σ q_a (the quants go in unsigned, stored = value + Bias) and d_a·2^112
        byte[]? heap = PreparedHeap(blocks);
        byte* stack = stackalloc byte[heap == null ? blocks * 8 : 0];
        fixed (byte* pinned = heap)
        {
            byte* prep = heap == null ? stack : pinned;
            int* bias = (int*)prep;
            float* scales = (float*)(prep + blocks * 4);
            Prepare(activation, blocks, bias, scales);
            float* partial = stackalloc float[Rows];
            for (int g = rowStart / Rows; g * Rows < rowEnd; g++)
            {
                int first = g * Rows;
                bool whole = first >= rowStart && first + Rows <= rowEnd;
                float* o = whole ? output + first : partial;
                Group<TDot>(weights + g * groupBytes, blocks, activation, bias, scales, o);
                if (!whole)
                    for (int r = Math.Max(first, rowStart); r < Math.Min(first + Rows, rowEnd); r++) output[r] = partial[r - first];
            }
        }
    }

    /// <summary>The prepared activation values (8 bytes per activation block) live on the stack up to 32 KiB (every
    /// Qwen1.5 width at batch 1, and at batch 16 up to n = 2048), else in a per-thread buffer grown once.</summary>
    private static byte[]? PreparedHeap(int prepared)
    {
        if (prepared * 8L <= 32 << 10) return null;
        var heap = preparedScratch;
        if (heap == null || heap.Length < prepared * 8L) preparedScratch = heap = new byte[prepared * 8L];
        return heap;
    }

    private static void Prepare(byte* activation, int blocks, int* bias, float* scales)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* a = activation + b * ActBlock;
            var q = Vector256.Load((sbyte*)(a + 2));
            var wide = Avx2.ConvertToVector256Int16(q.GetLower()) + Avx2.ConvertToVector256Int16(q.GetUpper());
            bias[b] = -TBlock.Bias * Sum(Avx2.MultiplyAddAdjacent(wide, Vector256<short>.One));
            scales[b] = Fp16.ToSingle(a) * Fp16.ScaleUp;   // the product with d·2^-112 is exactly d_w·d_a, rounded once
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Sum(Vector256<int> v)
    {
        var x = v.GetLower() + v.GetUpper();
        x += Sse2.Shuffle(x, 0b_01_00_11_10);
        x += Sse2.Shuffle(x, 0b_10_11_00_01);
        return x.ToScalar();
    }

    /// <summary>Batches of 2..16 (several sequences decoded together): each block of the eight rows is loaded and
    /// unpacked once and dotted with every activation. The accumulators (eight per activation, block mod 8, as in the
    /// batch-1 kernel) live in a small stack array: too many for registers, and one L1 load + store per block and
    /// activation is cheap next to its eight byte dots. A group with an infinite or NaN scale goes through the
    /// standard kernels.</summary>
    [SkipLocalsInit]   // every prepared value and accumulator is written before it is read
    private static void SmallBatch<TDot>(byte* weights, int n, int rowStart, int rowEnd, byte* activations, int batch,
                                         float* output, int outputStride, KernelPath path) where TDot : IInt8Dot256
    {
        int blocks = n / 32;
        long groupBytes = Rows * (long)blocks * Block, actBytes = (long)blocks * ActBlock;
        // per activation and block: -Bias·Σ q_a and d_a·2^112
        int prepared = batch * blocks;
        byte[]? heap = PreparedHeap(prepared);
        byte* stack = stackalloc byte[heap == null ? prepared * 8 : 0];
        fixed (byte* pinned = heap)
        {
            byte* prep = heap == null ? stack : pinned;
            int* bias = (int*)prep;
            float* scales = (float*)(prep + prepared * 4);
            for (int a = 0; a < batch; a++) Prepare(activations + a * actBytes, blocks, bias + a * blocks, scales + a * blocks);
            var acc = stackalloc Vector256<float>[batch * Rows];
            float* partial = stackalloc float[Rows];
            long ahead = Block32Rows.PrefetchAhead;
            for (int g = rowStart / Rows; g * Rows < rowEnd; g++)
            {
                int first = g * Rows;
                for (int i = 0; i < batch * Rows; i++) acc[i] = default;
                var guard = Vector256<uint>.Zero;
                byte* p = weights + g * groupBytes;
                for (int b = 0; b < blocks; b++, p += Record)
                {
                    Block32Rows.PrefetchBlock(p, ahead, Record);
                    var dw = WeightScales(p, ref guard);
                    byte* y0 = activations + b * ActBlock + 2;
                    for (int a = 0; a < batch; a++)
                    {
                        sbyte* y = (sbyte*)(y0 + a * actBytes);
                        var sums = TBlock.Sums<TDot>(p, y, Vector256.Create(bias[a * blocks + b]));
                        ref var slot = ref acc[a * Rows + (b & 7)];
                        slot = Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), dw * Vector256.Create(scales[a * blocks + b]), slot);
                    }
                }
                if (Vector256.GreaterThanOrEqualAny(guard, Vector256.Create(0xF800_0000u)))
                {
                    Standard(weights, n, Math.Max(first, rowStart), Math.Min(first + Rows, rowEnd), activations, batch, output, outputStride, path);
                    continue;
                }
                bool whole = first >= rowStart && first + Rows <= rowEnd;
                for (int a = 0; a < batch; a++)
                {
                    float* o = whole ? output + (long)a * outputStride + first : partial;
                    var x = acc + a * Rows;
                    Finish(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]).Store(o);
                    if (!whole)
                        for (int r = Math.Max(first, rowStart); r < Math.Min(first + Rows, rowEnd); r++) output[(long)a * outputStride + r] = partial[r - first];
                }
            }
        }
    }

    [ThreadStatic] private static byte[]? preparedScratch;

    /// <summary>The eight accumulators (lanes = rows) to the eight rows' results. Row r's single-row accumulator is
    /// v = (a0[r], ..., a7[r]), and its end is Simd256.Sum(v) + 0 (no offsets) + 0 (no tail), which adds
    /// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)): the same tree, lane-wise, gives all eight rows at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Finish(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
                                           Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7) =>
        ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) + Vector256<float>.Zero + Vector256<float>.Zero;

    /// <summary>Block b of the eight rows: the eight integer sums (lane = row) times d_w·d_a, fused into acc.
    /// guard keeps the largest d_w shifted to the top: an infinity or NaN scale sends the group to the single-row dot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step<TDot>(byte* p, sbyte* y, int bias, float scale, Vector256<float> acc,
                                               ref Vector256<uint> guard, long ahead) where TDot : IInt8Dot256
    {
        Block32Rows.PrefetchBlockDecode(p, ahead, Record);
        var sums = TBlock.Sums<TDot>(p, y, Vector256.Create(bias));
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(sums), WeightScales(p, ref guard) * Vector256.Create(scale), acc);
    }

    /// <summary>The record's eight fp16 d as d·2^-112 (<see cref="Fp16.ToSingleScaledDown"/>; the prepared activation
    /// scales carry the 2^112). guard keeps the largest |d| shifted to the top: an infinity or NaN sends the group to
    /// the standard kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WeightScales(byte* record, ref Vector256<uint> guard)
    {
        var raw = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)record)).AsInt32();
        guard = Vector256.Max(guard, raw.AsUInt32() << 17);
        return Fp16.ToSingleScaledDown(raw);
    }

    /// <summary>One group of eight rows into o[0..7].</summary>
    private static void Group<TDot>(byte* w, int blocks, byte* a, int* bias, float* scales, float* o)
        where TDot : IInt8Dot256
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        var guard = Vector256<uint>.Zero;
        long ahead = Block32Rows.PrefetchAhead;
        byte* start = w;
        for (int b = 0; b < blocks; b += 8, w += 8 * Record, a += 8 * ActBlock)
        {
            a0 = Step<TDot>(w, (sbyte*)(a + 2), bias[b], scales[b], a0, ref guard, ahead);
            a1 = Step<TDot>(w + Record, (sbyte*)(a + ActBlock + 2), bias[b + 1], scales[b + 1], a1, ref guard, ahead);
            a2 = Step<TDot>(w + 2 * Record, (sbyte*)(a + 2 * ActBlock + 2), bias[b + 2], scales[b + 2], a2, ref guard, ahead);
            a3 = Step<TDot>(w + 3 * Record, (sbyte*)(a + 3 * ActBlock + 2), bias[b + 3], scales[b + 3], a3, ref guard, ahead);
            a4 = Step<TDot>(w + 4 * Record, (sbyte*)(a + 4 * ActBlock + 2), bias[b + 4], scales[b + 4], a4, ref guard, ahead);
            a5 = Step<TDot>(w + 5 * Record, (sbyte*)(a + 5 * ActBlock + 2), bias[b + 5], scales[b + 5], a5, ref guard, ahead);
            a6 = Step<TDot>(w + 6 * Record, (sbyte*)(a + 6 * ActBlock + 2), bias[b + 6], scales[b + 6], a6, ref guard, ahead);
            a7 = Step<TDot>(w + 7 * Record, (sbyte*)(a + 7 * ActBlock + 2), bias[b + 7], scales[b + 7], a7, ref guard, ahead);
        }
        if (Vector256.GreaterThanOrEqualAny(guard, Vector256.Create(0xF800_0000u)))
        {
            SingleRowDots(start, blocks, a - (long)blocks * ActBlock, o);
            return;
        }
        Finish(a0, a1, a2, a3, a4, a5, a6, a7).Store(o);
    }

    /// <summary>A group with an infinity or NaN scale: its rows un-interleaved and dotted one by one.</summary>
    private static void SingleRowDots(byte* group, int blocks, byte* a, float* o)
    {
        long rowBytes = (long)blocks * Block;
        var rows = new byte[Rows * rowBytes];   // only for corrupt or hostile weights, never in a normal decode
        fixed (byte* p = rows)
        {
            Deinterleave(group, p, 1, blocks * 32);
            for (int r = 0; r < Rows; r++) o[r] = VecDot.Dot(TBlock.Type, p + r * rowBytes, a, blocks * 32);
        }
    }
}

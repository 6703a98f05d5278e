using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>Batch-1 MatMulRows (the decode shape), which for Q8_0, Q4_0 (Vector256 rungs: PairedRows; Q8_0 on the
/// AVX2 rung Block32Rows), F16 and BF16 (Vector512, Vector256)
/// runs four weight rows per pass and for other types a prefetching single-row loop: every output must be bit-identical to the single-row dot on the same rung, for row ranges that do not
/// divide into fours, lengths with and without a tail after the eight-block groups, and extreme bytes.</summary>
public unsafe class DecodeMatVecTests
{
    public static TheoryData<GgmlType, string> Cases()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.F16, GgmlType.BF16 })
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, path);
        return data;
    }

    private static readonly (int Start, int End)[] RowRanges = [(0, 37), (1, 36), (3, 10), (4, 8), (6, 7), (9, 9)];
    private static readonly int[] Lengths = [32 * 8, 32 * 19, 32 * 3, 32 * 64];

    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    [Theory]
    [MemberData(nameof(Paths))]
    public void BF16MatVecWithATailEqualsTheSingleRowDotExactly(string path)
    {
        // lengths that leave a 16-element step and a scalar tail after the 32-element loop; the matvec is the
        // prefetching dot row after row, so this holds its row addressing and output range
        var rng = new Random(9150);
        foreach (int n in new[] { 1000, 48, 17, 16 * 65 + 3 })
            Check(GgmlType.BF16, TensorTestData.Path(path), n, r => TensorTestData.RandomRow(GgmlType.BF16, n, rng),
                  TensorTestData.RandomActivations(n, rng));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RandomRowsEqualTheSingleRowDotExactly(GgmlType weightType, string path)
    {
        var rng = new Random(9100 + (int)weightType);
        foreach (int n in Lengths)
            Check(weightType, TensorTestData.Path(path), n, r => TensorTestData.RandomRow(weightType, n, rng),
                  TensorTestData.RandomActivations(n, rng));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExtremeBytesEqualTheSingleRowDotExactly(GgmlType weightType, string path)
    {
        // weight bytes all 0x80 (Q8_0: q = -128) or 0xFF, fp16 scales kept sane; activations ±1 quantize to ±127
        var rng = new Random(9200 + (int)weightType);
        const int N = 32 * 17;
        int blockBytes = GgmlTypeInfo.Block(weightType).TypeSize;
        var x = new float[N];
        for (int i = 0; i < N; i++) x[i] = i % 3 == 0 ? -1f : 1f;
        Check(weightType, TensorTestData.Path(path), N, r =>
        {
            var sane = TensorTestData.RandomRow(weightType, N, rng);
            var row = new byte[sane.Length];
            Array.Fill(row, r % 2 == 0 ? (byte)0x80 : (byte)0xFF);
            foreach (int offset in TensorTestData.ScaleOffsets(weightType))
                for (int b = 0; b < row.Length / blockBytes; b++)
                {
                    row[b * blockBytes + offset] = sane[b * blockBytes + offset];
                    row[b * blockBytes + offset + 1] = sane[b * blockBytes + offset + 1];
                }
            return row;
        }, x);
    }

    /// <summary>Rows whose re-laid-out activation is wider than DecodeScratch's stack budget (64 KiB) take its
    /// per-thread buffer: F16 past 16,368 elements, the paired-block kernels (Q4_0, Q8_0) past about 52,000.</summary>
    public static TheoryData<GgmlType, int, string> WideCases()
    {
        var data = new TheoryData<GgmlType, int, string>();
        foreach (var (type, n) in new[] { (GgmlType.F16, 16 * 1024 + 64), (GgmlType.BF16, 16 * 1024 + 64), (GgmlType.Q4_0, 256 * 206), (GgmlType.Q8_0, 256 * 206) })
            foreach (var path in TensorTestData.SupportedPaths) data.Add(type, n, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(WideCases))]
    public void RowsPastTheStackScratchEqualTheSingleRowDotExactly(GgmlType weightType, int n, string path)
    {
        var rng = new Random(9300 + (int)weightType);
        Check(weightType, TensorTestData.Path(path), n, r => TensorTestData.RandomRow(weightType, n, rng), TensorTestData.RandomActivations(n, rng));
    }

    private static void Check(GgmlType weightType, KernelPath path, int n, Func<int, byte[]> row, float[] x) =>
        MatVecCheck.RowsMatchDot(weightType, path, n, 37, RowRanges, row, x);
}

/// <summary>A compute thread's first batch-1 matvec allocates nothing, so the decode loop stays allocation-free
/// whichever thread happens to run a type's rows first (prepared activations live on the stack; a [ThreadStatic]
/// buffer would be allocated on that thread's first call, and so would the thread's static storage for the type).</summary>
public unsafe class DecodeMatVecAllocationTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.F32)]
    public void FirstMatVecOnANewThreadAllocatesNothing(GgmlType type)
    {
        const int Rows = 8, N = 2816;
        var rng = new Random(9800);
        long rowBytes = GgmlTypeInfo.RowBytes(type, N);
        var weights = new byte[Rows * rowBytes];
        for (int r = 0; r < Rows; r++) TensorTestData.RandomRow(type, N, rng).CopyTo(weights, r * rowBytes);
        var activation = new byte[VecDot.ActivationRowBytes(type, N)];
        VecDot.QuantizeActivation(type, TensorTestData.RandomActivations(N, rng), activation);
        var output = new float[Rows];
        void MatVec()
        {
            fixed (byte* pw = weights, pa = activation)
            fixed (float* po = output)
                VecDot.MatMulRows(type, pw, N, 0, Rows, pa, 1, po, Rows);
        }
        MatVec();   // compiled here, on the test thread
        long allocated = -1;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            MatVec();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        thread.Start();
        thread.Join();
        Assert.Equal(0, allocated);
    }
}

using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

public unsafe class DotTests
{
    /// <summary>Σ|w·a| over the exactly decoded rows: the scale of rounding error a float dot can have.</summary>
    private static double MagnitudeSum(GgmlType weightType, byte[] w, byte[] a, int n)
    {
        var wd = ReferenceKernels.DecodeExact(weightType, w, n);
        var ad = ReferenceKernels.DecodeExact(VecDot.ActivationType(weightType), a, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.Abs(wd[i] * ad[i]);
        return sum;
    }

    private static byte[] Activation(GgmlType weightType, float[] x)
    {
        var a = new byte[VecDot.ActivationRowBytes(weightType, x.Length)];
        ReferenceKernels.QuantizeActivation(weightType, x, a);
        return a;
    }

    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void EveryRungMatchesTheExactDot(GgmlType weightType, string path)
    {
        var rng = new Random(3000 + (int)weightType);
        int n = TensorTestData.TestLength(weightType);
        for (int trial = 0; trial < 4; trial++)
        {
            var w = TensorTestData.RandomRow(weightType, n, rng);
            var a = Activation(weightType, TensorTestData.RandomActivations(n, rng));
            float expected = ReferenceKernels.Dot(weightType, w, a, n);
            float actual;
            fixed (byte* pw = w, pa = a) actual = VecDot.Dot(weightType, pw, pa, n, TensorTestData.Path(path));
            // observed worst case is ~2e-7 (the sequential scalar float sums); integer slips show up well above this
            double tolerance = 2e-6 * MagnitudeSum(weightType, w, a, n) + 1e-30;
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"{weightType} on {path}: {actual:R} vs {expected:R} (tolerance {tolerance:G3})");
        }
    }

    /// <summary>With power-of-two scales and small integer activations (one -127 per block makes the activation
    /// scale exactly 1), every step of every rung is exact in fp32, so the result must equal the exact dot to the
    /// last bit: a kernel that drops or double-counts a single product fails here.</summary>
    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void EveryRungIsExactWhenEveryStepIsExact(GgmlType weightType, string path)
    {
        var rng = new Random(3500 + (int)weightType);
        int n = TensorTestData.TestLength(weightType);
        var w = TensorTestData.ExactRow(weightType, n, rng);
        int activationBlock = GgmlTypeInfo.Block(VecDot.ActivationType(weightType)).BlockSize;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i % Math.Max(activationBlock, 32) == 0 ? -127 : rng.Next(-15, 16);
        var a = Activation(weightType, x);
        float expected = ReferenceKernels.Dot(weightType, w, a, n);
        Assert.Equal((double)expected, ExactDot(weightType, w, x, n));   // the activation really is x, exactly
        float actual;
        fixed (byte* pw = w, pa = a) actual = VecDot.Dot(weightType, pw, pa, n, TensorTestData.Path(path));
        Assert.Equal(expected, actual);
    }

    private static double ExactDot(GgmlType weightType, byte[] w, float[] x, int n)
    {
        var wd = ReferenceKernels.DecodeExact(weightType, w, n);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += wd[i] * x[i];
        return sum;
    }

    /// <summary>An independent check of the whole pipeline: quantized dot ≈ float dot of the dequantized weights
    /// with the original activations, within the activation quantization error.</summary>
    [Theory]
    [MemberData(nameof(TensorTestData.Types), MemberType = typeof(TensorTestData))]
    public void QuantizedDotApproximatesTheFloatDot(GgmlType weightType)
    {
        var rng = new Random(4000 + (int)weightType);
        int n = 1024;
        var w = TensorTestData.RandomRow(weightType, n, rng);
        var x = TensorTestData.RandomActivations(n, rng);
        var wf = new float[n];
        Dequantize.Row(weightType, w, wf);
        double exact = 0, magnitude = 0;
        for (int i = 0; i < n; i++) { exact += (double)wf[i] * x[i]; magnitude += Math.Abs((double)wf[i] * x[i]); }
        var a = new byte[VecDot.ActivationRowBytes(weightType, n)];
        VecDot.QuantizeActivation(weightType, x, a);
        float actual;
        fixed (byte* pw = w, pa = a) actual = VecDot.Dot(weightType, pw, pa, n);
        // 8-bit activations: each |a - x| is at most half a step of amax/127 (per block); fp16/bf16 ~2^-9 relative
        double bound = weightType == GgmlType.F32 ? 1e-5 * magnitude : 0.02 * magnitude + 1e-6;
        Assert.True(Math.Abs(actual - exact) <= bound, $"{weightType}: {actual} vs {exact} (bound {bound:G3})");
    }

    [Theory]
    [MemberData(nameof(TensorTestData.TypesAndPaths), MemberType = typeof(TensorTestData))]
    public void MatMulRowsEqualsALoopOfDots(GgmlType weightType, string path)
    {
        var kernelPath = TensorTestData.Path(path);
        var rng = new Random(5000 + (int)weightType);
        int n = GgmlTypeInfo.Block(weightType).BlockSize == 256 ? 512 : 96;
        const int Rows = 11, Batch = 10, Stride = 16, RowStart = 2, RowEnd = 9;   // batch > 8 crosses an F16 expansion chunk
        long rowBytes = GgmlTypeInfo.RowBytes(weightType, n), actBytes = VecDot.ActivationRowBytes(weightType, n);
        var (weights, activations) = TensorTestData.RandomMatMulOperands(weightType, Rows, Batch, n, rng, kernelPath);
        var output = Enumerable.Repeat(float.NaN, Batch * Stride).ToArray();
        fixed (byte* pw = weights, pa = activations)
        fixed (float* po = output)
        {
            VecDot.MatMulRows(weightType, pw, n, RowStart, RowEnd, pa, Batch, po, Stride, kernelPath);
            for (int b = 0; b < Batch; b++)
                for (int r = 0; r < Stride; r++)
                {
                    float got = output[b * Stride + r];
                    if (r < RowStart || r >= RowEnd) { Assert.True(float.IsNaN(got), $"row {r} outside the range was written"); continue; }
                    float expected = VecDot.Dot(weightType, pw + r * rowBytes, pa + b * actBytes, n, kernelPath);
                    Assert.Equal(expected, got);
                }
        }
    }

    [Fact]
    public void PublicMatMulRowsMatchesPublicDot()
    {
        var rng = new Random(6);
        const GgmlType Type = GgmlType.Q4_K;
        int n = 256;
        var weights = new byte[5 * 144];
        for (int r = 0; r < 5; r++) TensorTestData.RandomRow(Type, n, rng).CopyTo(weights, r * 144);
        var a = new byte[292];
        VecDot.QuantizeActivation(Type, TensorTestData.RandomActivations(n, rng), a);
        var output = new float[5];
        fixed (byte* pw = weights, pa = a)
        fixed (float* po = output)
        {
            VecDot.MatMulRows(Type, pw, n, 0, 5, pa, 1, po, 5);
            for (int r = 0; r < 5; r++) Assert.Equal(VecDot.Dot(Type, pw + r * 144, pa, n), output[r]);
        }
    }

    [Fact]
    public void BadArgumentsAreClearErrors()
    {
        var buffer = new byte[1024];
        fixed (byte* p = buffer)
        {
            byte* q = p;
            Assert.Throws<QwenSharpException>(() => VecDot.Dot(GgmlType.Q4_0, q, q, 33));
            Assert.Throws<QwenSharpException>(() => VecDot.Dot(GgmlType.IQ2_XS, q, q, 256));
            float* f = (float*)p;
            Assert.Throws<QwenSharpException>(() => VecDot.MatMulRows(GgmlType.Q8_0, q, 32, 3, 1, q, 1, f, 1));
        }
    }
}

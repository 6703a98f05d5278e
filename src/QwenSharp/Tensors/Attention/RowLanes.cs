using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tensors.Attention;

/// <summary>Sixteen fp32 lanes, one per attention row (a query of one head), on one rung of the ladder: a Vector512,
/// two Vector256, four Vector128, or sixteen scalars. <see cref="BlockAttention"/> is written once against this
/// interface; the JIT specialises it per struct, so each rung runs its own straight-line vector code.</summary>
internal unsafe interface IRowLanes<TSelf> where TSelf : unmanaged, IRowLanes<TSelf>
{
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);
    static abstract TSelf Splat(float x);
    /// <summary>a·b + c (fused where the rung has FMA).</summary>
    static abstract TSelf MulAdd(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Mul(TSelf a, TSelf b);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Div(TSelf a, TSelf b);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Exp(TSelf a);

    // For SingleRowAttention, which puts one row's head dimension (not 16 rows) in the lanes.
    /// <summary>Sixteen fp16 values at p, converted exactly (the F16 cache read in place).</summary>
    static abstract TSelf LoadHalf(Half* p);
    /// <summary><see cref="LoadHalf"/> for halves known to be finite (<see cref="HalfRows.AllFinite"/>).</summary>
    static abstract TSelf LoadHalfFinite(Half* p);
    /// <summary>The sum of the sixteen lanes in the order BlockAttention.Scores reduces its per-lane accumulators:
    /// lane i + 8 onto lane i, then i + 4 onto i, then (0 + 2) + (1 + 3).</summary>
    static abstract float SumLanes(TSelf v);
    /// <summary>output[r] = <see cref="SumLanes"/>(v[r]) for r in [0, 16), bit for bit.</summary>
    static abstract void SumLanes16(TSelf* v, float* output);
    /// <summary>a·b + c on one float, rounded as this rung's <see cref="MulAdd(TSelf, TSelf, TSelf)"/> rounds a lane.</summary>
    static abstract float MulAddOne(float a, float b, float c);
}

internal unsafe struct Lanes512 : IRowLanes<Lanes512>
{
    private Vector512<float> _v;
    private Lanes512(Vector512<float> v) => _v = v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Lanes512 v, float* p) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Splat(float x) => new(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 MulAdd(Lanes512 a, Lanes512 b, Lanes512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Mul(Lanes512 a, Lanes512 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Add(Lanes512 a, Lanes512 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Sub(Lanes512 a, Lanes512 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Div(Lanes512 a, Lanes512 b) => new(a._v / b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Max(Lanes512 a, Lanes512 b) => new(Vector512.Max(a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 Exp(Lanes512 a) => new(Vector512.Exp(a._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 LoadHalf(Half* p) => new(Fp16.ToSingle(Vector512.WidenLower(Vector256.Load((ushort*)p).ToVector512Unsafe())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes512 LoadHalfFinite(Half* p) => new(HalfRows.FiniteToSingle(Vector512.WidenLower(Vector256.Load((short*)p).ToVector512Unsafe())));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumLanes(Lanes512 v) => RowLaneSums.Four(RowLaneSums.Eight(v._v.GetUpper() + v._v.GetLower()));

    /// <summary>The sixteen trees side by side: each step adds the same two lanes of a row as <see cref="SumLanes"/>
    /// does (float addition is commutative bit for bit), with the rows' lanes gathered by 128-bit and in-lane
    /// shuffles, so 31 shuffles and 16 adds make all sixteen sums (one at a time: 64 and 64).</summary>
    public static void SumLanes16(Lanes512* v, float* output)
    {
        if (!Avx512F.IsSupported)
        {
            for (int r = 0; r < BlockAttention.Lanes; r++) output[r] = SumLanes(v[r]);
            return;
        }
        // 16 -> 8: p[m] = [row 2m's lane i + lane i + 8, i < 8 | row 2m + 1's]
        var p0 = Half8(v[0]._v, v[1]._v); var p1 = Half8(v[2]._v, v[3]._v);
        var p2 = Half8(v[4]._v, v[5]._v); var p3 = Half8(v[6]._v, v[7]._v);
        var p4 = Half8(v[8]._v, v[9]._v); var p5 = Half8(v[10]._v, v[11]._v);
        var p6 = Half8(v[12]._v, v[13]._v); var p7 = Half8(v[14]._v, v[15]._v);
        // 8 -> 4: q[n] 128-bit lane j = row 4n + j's lane i + lane i + 4, i < 4
        var q0 = Half4(p0, p1); var q1 = Half4(p2, p3); var q2 = Half4(p4, p5); var q3 = Half4(p6, p7);
        // 4 -> 2: r0 lane j = [row j: 0 + 2, 1 + 3 | row 4 + j: same], r1 the same for rows 8 + j, 12 + j
        var r0 = Avx512F.Shuffle(q0, q1, 0b01_00_01_00) + Avx512F.Shuffle(q0, q1, 0b11_10_11_10);
        var r1 = Avx512F.Shuffle(q2, q3, 0b01_00_01_00) + Avx512F.Shuffle(q2, q3, 0b11_10_11_10);
        // 2 -> 1: element e of 128-bit lane j = row 4e + j
        var s = Avx512F.Shuffle(r0, r1, 0b10_00_10_00) + Avx512F.Shuffle(r0, r1, 0b11_01_11_01);
        Avx512F.PermuteVar16x32(s, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)).Store(output);
    }

    /// <summary>[x's lanes 8..15 + lanes 0..7 | y's]: 128-bit lanes 2, 3 onto 0, 1 of each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Half8(Vector512<float> x, Vector512<float> y) =>
        Avx512F.Shuffle4x128(x, y, 0b11_10_11_10) + Avx512F.Shuffle4x128(x, y, 0b01_00_01_00);

    /// <summary>From a = [row A's 8 | row B's 8] and b = [C's | D's]: [A, B, C, D]'s lanes 4..7 + lanes 0..3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Half4(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b11_01_11_01) + Avx512F.Shuffle4x128(a, b, 0b10_00_10_00);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MulAddOne(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
}

internal unsafe struct Lanes256 : IRowLanes<Lanes256>
{
    private Vector256<float> _a, _b;
    private Lanes256(Vector256<float> a, Vector256<float> b) { _a = a; _b = b; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Load(float* p) => new(Vector256.Load(p), Vector256.Load(p + 8));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Lanes256 v, float* p) { v._a.Store(p); v._b.Store(p + 8); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Splat(float x) { var v = Vector256.Create(x); return new(v, v); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 MulAdd(Lanes256 a, Lanes256 b, Lanes256 c) => new(Vector256.FusedMultiplyAdd(a._a, b._a, c._a), Vector256.FusedMultiplyAdd(a._b, b._b, c._b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Mul(Lanes256 a, Lanes256 b) => new(a._a * b._a, a._b * b._b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Add(Lanes256 a, Lanes256 b) => new(a._a + b._a, a._b + b._b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Sub(Lanes256 a, Lanes256 b) => new(a._a - b._a, a._b - b._b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Div(Lanes256 a, Lanes256 b) => new(a._a / b._a, a._b / b._b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Max(Lanes256 a, Lanes256 b) => new(Vector256.Max(a._a, b._a), Vector256.Max(a._b, b._b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 Exp(Lanes256 a) => new(Vector256.Exp(a._a), Vector256.Exp(a._b));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 LoadHalf(Half* p)
    {
        var h = Vector256.Load((ushort*)p);
        return new(Fp16.ToSingle(Vector256.WidenLower(h)), Fp16.ToSingle(Vector256.WidenUpper(h)));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes256 LoadHalfFinite(Half* p)
    {
        var h = Vector256.Load((short*)p);
        return new(HalfRows.FiniteToSingle(Vector256.WidenLower(h)), HalfRows.FiniteToSingle(Vector256.WidenUpper(h)));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumLanes(Lanes256 v) => RowLaneSums.Four(RowLaneSums.Eight(v._b + v._a));
    public static void SumLanes16(Lanes256* v, float* output) { for (int r = 0; r < BlockAttention.Lanes; r++) output[r] = SumLanes(v[r]); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MulAddOne(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
}

internal unsafe struct Lanes128 : IRowLanes<Lanes128>
{
    private Vector128<float> _a, _b, _c, _d;
    private Lanes128(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d) { _a = a; _b = b; _c = c; _d = d; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Load(float* p) => new(Vector128.Load(p), Vector128.Load(p + 4), Vector128.Load(p + 8), Vector128.Load(p + 12));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Lanes128 v, float* p) { v._a.Store(p); v._b.Store(p + 4); v._c.Store(p + 8); v._d.Store(p + 12); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Splat(float x) { var v = Vector128.Create(x); return new(v, v, v, v); }
    // MultiplyAddEstimate: fused where the hardware has FMA (ARM, x86 with FMA), multiply-then-add elsewhere,
    // never the slow software fused fallback.
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 MulAdd(Lanes128 a, Lanes128 b, Lanes128 c) =>
        new(Vector128.MultiplyAddEstimate(a._a, b._a, c._a), Vector128.MultiplyAddEstimate(a._b, b._b, c._b),
            Vector128.MultiplyAddEstimate(a._c, b._c, c._c), Vector128.MultiplyAddEstimate(a._d, b._d, c._d));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Mul(Lanes128 a, Lanes128 b) => new(a._a * b._a, a._b * b._b, a._c * b._c, a._d * b._d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Add(Lanes128 a, Lanes128 b) => new(a._a + b._a, a._b + b._b, a._c + b._c, a._d + b._d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Sub(Lanes128 a, Lanes128 b) => new(a._a - b._a, a._b - b._b, a._c - b._c, a._d - b._d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Div(Lanes128 a, Lanes128 b) => new(a._a / b._a, a._b / b._b, a._c / b._c, a._d / b._d);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Max(Lanes128 a, Lanes128 b) =>
        new(Vector128.Max(a._a, b._a), Vector128.Max(a._b, b._b), Vector128.Max(a._c, b._c), Vector128.Max(a._d, b._d));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 Exp(Lanes128 a) => new(Vector128.Exp(a._a), Vector128.Exp(a._b), Vector128.Exp(a._c), Vector128.Exp(a._d));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 LoadHalf(Half* p)
    {
        Vector128<ushort> lo = Vector128.Load((ushort*)p), hi = Vector128.Load((ushort*)p + 8);
        return new(Fp16.ToSingle(Vector128.WidenLower(lo)), Fp16.ToSingle(Vector128.WidenUpper(lo)),
                   Fp16.ToSingle(Vector128.WidenLower(hi)), Fp16.ToSingle(Vector128.WidenUpper(hi)));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Lanes128 LoadHalfFinite(Half* p)
    {
        Vector128<short> lo = Vector128.Load((short*)p), hi = Vector128.Load((short*)p + 8);
        return new(HalfRows.FiniteToSingle(Vector128.WidenLower(lo)), HalfRows.FiniteToSingle(Vector128.WidenUpper(lo)),
                   HalfRows.FiniteToSingle(Vector128.WidenLower(hi)), HalfRows.FiniteToSingle(Vector128.WidenUpper(hi)));
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float SumLanes(Lanes128 v) => RowLaneSums.Four((v._d + v._b) + (v._c + v._a));
    public static void SumLanes16(Lanes128* v, float* output) { for (int r = 0; r < BlockAttention.Lanes; r++) output[r] = SumLanes(v[r]); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MulAddOne(float a, float b, float c) =>
        Vector128.MultiplyAddEstimate(Vector128.CreateScalarUnsafe(a), Vector128.CreateScalarUnsafe(b), Vector128.CreateScalarUnsafe(c)).ToScalar();
}

/// <summary>The scalar rung: sixteen floats in an inline array, plain loops.</summary>
internal unsafe struct LanesScalar : IRowLanes<LanesScalar>
{
    private Sixteen _v;

    [InlineArray(BlockAttention.Lanes)]
    private struct Sixteen { private float _e; }

    public static LanesScalar Load(float* p) { LanesScalar r = default; for (int i = 0; i < BlockAttention.Lanes; i++) r._v[i] = p[i]; return r; }
    public static void Store(LanesScalar v, float* p) { for (int i = 0; i < BlockAttention.Lanes; i++) p[i] = v._v[i]; }
    public static LanesScalar Splat(float x) { LanesScalar r = default; for (int i = 0; i < BlockAttention.Lanes; i++) r._v[i] = x; return r; }
    public static LanesScalar MulAdd(LanesScalar a, LanesScalar b, LanesScalar c) { for (int i = 0; i < BlockAttention.Lanes; i++) c._v[i] = MathF.FusedMultiplyAdd(a._v[i], b._v[i], c._v[i]); return c; }
    public static LanesScalar Mul(LanesScalar a, LanesScalar b) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] *= b._v[i]; return a; }
    public static LanesScalar Add(LanesScalar a, LanesScalar b) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] += b._v[i]; return a; }
    public static LanesScalar Sub(LanesScalar a, LanesScalar b) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] -= b._v[i]; return a; }
    public static LanesScalar Div(LanesScalar a, LanesScalar b) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] /= b._v[i]; return a; }
    public static LanesScalar Max(LanesScalar a, LanesScalar b) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] = MathF.Max(a._v[i], b._v[i]); return a; }
    public static LanesScalar Exp(LanesScalar a) { for (int i = 0; i < BlockAttention.Lanes; i++) a._v[i] = MathF.Exp(a._v[i]); return a; }
    public static LanesScalar LoadHalf(Half* p) { LanesScalar r = default; for (int i = 0; i < BlockAttention.Lanes; i++) r._v[i] = Fp16.ToSingle(((ushort*)p)[i]); return r; }
    public static LanesScalar LoadHalfFinite(Half* p) => LoadHalf(p);
    public static void SumLanes16(LanesScalar* v, float* output) { for (int r = 0; r < BlockAttention.Lanes; r++) output[r] = SumLanes(v[r]); }
    public static float SumLanes(LanesScalar v)
    {
        for (int i = 0; i < 8; i++) v._v[i] = v._v[i + 8] + v._v[i];
        for (int i = 0; i < 4; i++) v._v[i] = v._v[i + 4] + v._v[i];
        return (v._v[0] + v._v[2]) + (v._v[1] + v._v[3]);
    }
    public static float MulAddOne(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
}

/// <summary>The last steps of <see cref="IRowLanes{TSelf}.SumLanes"/> on vectors: 8 → 4 lanes (i + 4 onto i), then
/// (0 + 2) + (1 + 3). Float addition is commutative bit for bit, so upper + lower equals the scalar tree.</summary>
internal static class RowLaneSums
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Eight(Vector256<float> v) => v.GetUpper() + v.GetLower();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Four(Vector128<float> v)
    {
        var pairs = v + Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1));   // lane 0: v0 + v2, lane 1: v1 + v3
        return pairs.ToScalar() + pairs.GetElement(1);
    }
}

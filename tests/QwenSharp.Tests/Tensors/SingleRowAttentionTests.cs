using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using QwenSharp.Tensors.Attention;
using QwenSharp.Tensors.Simd;

namespace QwenSharp.Tests.Tensors;

/// <summary>SingleRowAttention (decode fast path) must give the same bits as BlockAttention's lane for that row, on
/// every rung, for fp32 keys and for fp16 keys read in place (BlockAttention gets them converted by
/// TensorPrimitives, as AttentionJob converts them).</summary>
public unsafe class SingleRowAttentionTests
{
    private const int Lanes = BlockAttention.Lanes;

    public static TheoryData<int> HeadSizes => new() { 64, 128, 80, 40, 13, 192 };

    [Theory]
    [MemberData(nameof(HeadSizes))]
    public void EveryRungGivesBlockAttentionsBits(int d)
    {
        int[] keyCounts = [1, 2, 3, 15, 16, 17, 31, 64, 65, 127, 200, 511, 600];
        foreach (var path in KernelPaths.All.Where(KernelPaths.IsSupported))
            foreach (var (f16, specials) in new[] { (false, false), (true, true), (true, false) })
                foreach (int stride in new[] { d, d + 5 })   // the cache's contiguous rows, and rows apart
                    foreach (int keyCount in keyCounts)
                    {
                        // The block has a few more keys than the row attends to: BlockAttention masks them (causal),
                        // the single row never reads them. Row 5 is the one compared; the other lanes are other rows.
                        var data = new Data(d, keyCount + 3, stride, seed: d * 7919 + keyCount, f16, specials);
                        int[] lastKey = data.LastKeys(seed: keyCount, row: 5, rowLastKey: keyCount - 1);
                        var block = data.Block(lastKey, path);
                        var single = data.Single(row: 5, keyCount, path);
                        AssertSameBits(block, single, 5, $"{path} f16={f16} specials={specials} d={d} stride={stride} keys={keyCount}");
                    }
    }

    [Fact]
    public void EveryKeyCountFrom1To600GivesBlockAttentionsBits()
    {
        // The production rung and the fp16 cache; 16 rows per block run, each with its own last key.
        const int d = 64, total = 600;
        var data = new Data(d, total, d * 3, seed: 600, f16: true);
        for (int start = 0; start < total; start += Lanes)
        {
            int[] lastKey = new int[Lanes];
            for (int r = 0; r < Lanes; r++) lastKey[r] = Math.Min(total - 1, start + r);
            var block = data.Block(lastKey, KernelPaths.Best);
            for (int r = 0; r < Lanes; r++)
                AssertSameBits(block, data.Single(r, lastKey[r] + 1, KernelPaths.Best), r, $"keys={lastKey[r] + 1}");
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(80)]
    public void PrefetchingTheNextHeadChangesNoBit(int d)
    {
        // The decode overload prefetches another head's rows during its loops; the outputs are the plain call's.
        var rng = new Random(d);
        foreach (int keyCount in new[] { 1, 15, 16, 40, 300 })
        {
            var q = new float[d];
            for (int i = 0; i < d; i++) q[i] = (float)(rng.NextDouble() * 4 - 2);
            var k = new Half[keyCount * d];
            var v = new Half[keyCount * d];
            var next = new Half[2 * keyCount * d];
            for (int i = 0; i < k.Length; i++) { k[i] = (Half)(rng.NextDouble() * 2 - 1); v[i] = (Half)(rng.NextDouble() * 2 - 1); }
            var plain = new float[d];
            var prefetching = new float[d];
            var scores = new float[SingleRowAttention.ScoresLength(keyCount)];
            fixed (float* pq = q, po = plain, pp = prefetching, ps = scores)
            fixed (Half* pk = k, pv = v, pn = next)
            {
                SingleRowAttention.Run(d, pq, pk, pv, d, keyCount, 0.125f, ps, po);
                SingleRowAttention.Run(d, pq, pk, pv, d, keyCount, 0.125f, ps, pp, pn, pn + keyCount * d, keyCount + 7);
            }
            for (int j = 0; j < d; j++)
                Assert.True(BitConverter.SingleToInt32Bits(plain[j]) == BitConverter.SingleToInt32Bits(prefetching[j]), $"d {d} keys {keyCount} column {j}");
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    [InlineData(80)]
    public void SkippingTheScanOfRowsKnownFiniteChangesNoBit(int d)
    {
        // rowsFinite (the KV cache's word that no row holds an infinity or NaN) skips the kernel's own scan; on every
        // rung the fast fp16 conversion it then takes is exact, so the outputs are the scanning call's, subnormal
        // and zero halves included.
        var rng = new Random(d + 5);
        foreach (var path in KernelPaths.All.Where(KernelPaths.IsSupported))
            foreach (int keyCount in new[] { 1, 15, 16, 40, 300 })
            {
                var q = new float[d];
                for (int i = 0; i < d; i++) q[i] = (float)(rng.NextDouble() * 4 - 2);
                var k = new Half[keyCount * d];
                var v = new Half[keyCount * d];
                for (int i = 0; i < k.Length; i++)
                {
                    k[i] = i % 37 == 0 ? BitConverter.UInt16BitsToHalf((ushort)rng.Next(1, 0x400)) : (Half)(rng.NextDouble() * 2 - 1);
                    v[i] = i % 41 == 0 ? (Half)0f : (Half)(rng.NextDouble() * 2 - 1);
                }
                var scanned = new float[d];
                var trusted = new float[d];
                var scores = new float[SingleRowAttention.ScoresLength(keyCount)];
                fixed (float* pq = q, po = scanned, pt = trusted, ps = scores)
                fixed (Half* pk = k, pv = v)
                {
                    SingleRowAttention.Run(d, pq, pk, pv, d, keyCount, 0.125f, ps, po, path);
                    SingleRowAttention.Run(d, pq, pk, pv, d, keyCount, 0.125f, ps, pt, path, rowsFinite: true);
                }
                for (int j = 0; j < d; j++)
                    Assert.True(BitConverter.SingleToInt32Bits(scanned[j]) == BitConverter.SingleToInt32Bits(trusted[j]),
                        $"{path} d {d} keys {keyCount} column {j}: scanned {scanned[j]:R}, trusted {trusted[j]:R}");
            }
    }

    [Theory]
    [InlineData(64, 2f)]
    [InlineData(128, 2f)]
    [InlineData(80, 2f)]
    [InlineData(64, 70000f)]    // a query element past 2^16
    public void Fp16RowsGiveTheBitsOfTheSameValuesInFp32(int d, float queryRange)
    {
        // The fp16 path reads each half as its exact value (subnormals included, the finiteness scan skipped); the
        // fp32 path reads those values directly. Same products in the same order: same bits.
        var rng = new Random(d + (int)queryRange);
        foreach (var path in KernelPaths.All.Where(KernelPaths.IsSupported))
            foreach (int keyCount in new[] { 1, 16, 17, 64, 200 })
            {
                var q = new float[d];
                for (int i = 0; i < d; i++) q[i] = (float)(rng.NextDouble() * 4 - 2);
                q[d / 2] = queryRange;
                var kh = new Half[keyCount * d];
                var vh = new Half[keyCount * d];
                for (int i = 0; i < kh.Length; i++)
                {
                    kh[i] = i % 29 == 0 ? BitConverter.UInt16BitsToHalf((ushort)rng.Next(1, 0x400)) : (Half)(rng.NextDouble() * 2 - 1);
                    vh[i] = i % 31 == 0 ? BitConverter.UInt16BitsToHalf((ushort)(rng.Next(1, 0x400) | 0x8000)) : (Half)(rng.NextDouble() * 2 - 1);
                }
                float[] kf = kh.Select(h => (float)h).ToArray(), vf = vh.Select(h => (float)h).ToArray();
                var fromHalves = new float[d];
                var fromFloats = new float[d];
                var scores = new float[SingleRowAttention.ScoresLength(keyCount)];
                fixed (float* pq = q, po = fromHalves, pf = fromFloats, ps = scores, pkf = kf, pvf = vf)
                fixed (Half* pk = kh, pv = vh)
                {
                    SingleRowAttention.Run(d, pq, pk, pv, d, keyCount, 0.125f, ps, po, path, rowsFinite: true);
                    SingleRowAttention.Run(d, pq, pkf, pvf, d, keyCount, 0.125f, ps, pf, path);
                }
                for (int j = 0; j < d; j++)
                    Assert.True(BitConverter.SingleToInt32Bits(fromHalves[j]) == BitConverter.SingleToInt32Bits(fromFloats[j]),
                        $"{path} d {d} keys {keyCount} column {j}: fp16 {fromHalves[j]:R}, fp32 {fromFloats[j]:R}");
            }
    }

    [Fact]
    public void HalfLoadsAreExactOnEveryRung()
    {
        var halves = new ushort[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = (ushort)i;
        var expected = new float[halves.Length];
        for (int i = 0; i < halves.Length; i++) expected[i] = (float)BitConverter.UInt16BitsToHalf(halves[i]);
        fixed (ushort* h = halves)
        {
            Check<LanesScalar>(h, expected, "scalar");
            if (Vector128.IsHardwareAccelerated) Check<Lanes128>(h, expected, "128");
            if (Vector256.IsHardwareAccelerated) Check<Lanes256>(h, expected, "256");
            if (Vector512.IsHardwareAccelerated) Check<Lanes512>(h, expected, "512");
        }

        static void Check<L>(ushort* h, float[] expected, string rung) where L : unmanaged, IRowLanes<L>
        {
            float* got = stackalloc float[Lanes], gotFinite = stackalloc float[Lanes];
            for (int i = 0; i < expected.Length; i += Lanes)
            {
                L.Store(L.LoadHalf((Half*)(h + i)), got);
                L.Store(L.LoadHalfFinite((Half*)(h + i)), gotFinite);
                for (int k = 0; k < Lanes; k++)
                {
                    float e = expected[i + k];
                    int exponent = (h[i + k] >> 10) & 31;
                    if (exponent < 31)   // zeros and subnormals included
                        Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(gotFinite[k]),
                            $"{rung} finite: half 0x{i + k:X4} gave {gotFinite[k]}, expected {e}");
                    if (float.IsNaN(e)) Assert.True(float.IsNaN(got[k]), $"{rung}: half 0x{i + k:X4} gave {got[k]}, not NaN");
                    else Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(got[k]),
                        $"{rung}: half 0x{i + k:X4} gave {got[k]}, expected {e}");
                }
            }
        }
    }

    [Fact]
    public void AllFiniteRejectsInfinitiesAndNaNsAnywhere()
    {
        var row = new ushort[200];
        foreach (int count in new[] { 1, 7, 8, 15, 16, 31, 32, 64, 100, 200 })
            for (int at = 0; at < count; at++)
            {
                foreach (ushort special in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFFFF })
                {
                    for (int i = 0; i < row.Length; i++) row[i] = (ushort)(0x3C00 + i % 7 + (i % 2 << 15)); // ±1.x
                    fixed (ushort* p = row) Assert.True(HalfRows.AllFinite(p, count));
                    row[at] = special;
                    fixed (ushort* p = row) Assert.False(HalfRows.AllFinite(p, count), $"0x{special:X4} at {at} of {count}");
                }
                foreach (ushort finite in new ushort[] { 0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF })
                {
                    row[at] = finite;
                    fixed (ushort* p = row) Assert.True(HalfRows.AllFinite(p, count), $"0x{finite:X4} at {at} of {count}");
                }
            }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public void AnInfiniteValueTakesTheGeneralConversionAndStillMatchesBlockAttention(int d)
    {
        // One value element is +inf: its column becomes inf or NaN in both kernels, every other column keeps the
        // same bits (the check that skips the fast conversion must not change a finite result).
        foreach (int stride in new[] { d, d + 5 })
        {
            const int keyCount = 40;
            var data = new Data(d, keyCount, stride, seed: d + stride, f16: true, specials: false);
            data.SetValue(row: 7, column: 3, BitConverter.UInt16BitsToHalf(0x7C00));
            int[] lastKey = data.LastKeys(seed: 1, row: 5, rowLastKey: keyCount - 1);
            var block = data.Block(lastKey, KernelPaths.Best);
            var single = data.Single(row: 5, keyCount, KernelPaths.Best);
            for (int j = 0; j < d; j++)
            {
                float b = block[j * Lanes + 5], s = single[j];
                if (j == 3) Assert.True(!float.IsFinite(b) && !float.IsFinite(s), $"column 3: {s} vs {b}");
                else Assert.True(BitConverter.SingleToInt32Bits(b) == BitConverter.SingleToInt32Bits(s), $"stride {stride} column {j}: {s:R} vs {b:R}");
            }
        }
    }

    private static void AssertSameBits(float[] outT, float[] single, int row, string what)
    {
        for (int j = 0; j < single.Length; j++)
        {
            int expected = BitConverter.SingleToInt32Bits(outT[j * Lanes + row]), actual = BitConverter.SingleToInt32Bits(single[j]);
            Assert.True(expected == actual, $"{what}: column {j}: single row {single[j]:R} vs block {outT[j * Lanes + row]:R}");
        }
    }

    /// <summary>Random queries, keys and values (fp16-representable, with some zeros and fp16 subnormals), keyCount
    /// rows <paramref name="stride"/> elements apart, as halves and as their exact floats.</summary>
    private sealed class Data
    {
        private readonly int _d, _keyCount, _stride;
        private readonly bool _f16;
        private readonly float[] _q, _keys, _values;
        private readonly Half[] _keysHalf, _valuesHalf;

        public Data(int d, int keyCount, int stride, int seed, bool f16, bool specials = true)
        {
            _d = d; _keyCount = keyCount; _stride = stride; _f16 = f16;
            var rng = new Random(seed);
            _q = new float[Lanes * d];
            for (int i = 0; i < _q.Length; i++) _q[i] = (float)(rng.NextDouble() * 6 - 3);
            _keysHalf = RandomHalves(keyCount * stride, rng, specials);
            _valuesHalf = RandomHalves(keyCount * stride, rng, specials);
            _keys = new float[_keysHalf.Length];
            _values = new float[_valuesHalf.Length];
            if (f16)
            {
                TensorPrimitives.ConvertToSingle(_keysHalf, _keys);
                TensorPrimitives.ConvertToSingle(_valuesHalf, _values);
            }
            else
            {
                // fp32 keys that are not fp16 values, so the fp32 path is not only tested on fp16-exact inputs.
                for (int i = 0; i < _keys.Length; i++) { _keys[i] = (float)(rng.NextDouble() * 2 - 1); _values[i] = (float)(rng.NextDouble() * 2 - 1); }
            }
        }

        /// <summary>With specials, about one in 25 is a zero or a subnormal (most rows take the general fp16
        /// conversion); without, all are normal numbers (the rows take the fast one).</summary>
        private static Half[] RandomHalves(int n, Random rng, bool specials)
        {
            var h = new Half[n];
            for (int i = 0; i < n; i++)
            {
                int kind = specials ? rng.Next(50) : 2;
                h[i] = kind == 0 ? (Half)0f
                    : kind == 1 ? BitConverter.UInt16BitsToHalf((ushort)(rng.Next(1, 0x400) | (rng.Next(2) << 15)))   // subnormal
                    : (Half)(float)(rng.NextDouble() * 4 - 2);
            }
            return h;
        }

        /// <summary>Sets one value element, as a half and as its float.</summary>
        public void SetValue(int row, int column, Half value)
        {
            _valuesHalf[row * _stride + column] = value;
            _values[row * _stride + column] = (float)value;
        }

        public int[] LastKeys(int seed, int row, int rowLastKey)
        {
            var rng = new Random(seed);
            var lastKey = new int[Lanes];
            for (int r = 0; r < Lanes; r++) lastKey[r] = r == 0 ? _keyCount - 1 : rng.Next(_keyCount);
            lastKey[row] = rowLastKey;
            return lastKey;
        }

        public float[] Block(int[] lastKey, KernelPath path)
        {
            int keyCount = lastKey.Max() + 1;
            var qT = new float[_d * Lanes];
            for (int r = 0; r < Lanes; r++)
                for (int j = 0; j < _d; j++) qT[j * Lanes + r] = _q[r * _d + j];
            float[] scores = new float[keyCount * Lanes], outT = new float[_d * Lanes];
            fixed (float* q = qT, k = _keys, v = _values, s = scores, o = outT)
            fixed (int* last = lastKey)
                BlockAttention.Run(_d, q, k, v, _stride, keyCount, last, Scale, s, o, path);
            return outT;
        }

        public float[] Single(int row, int keyCount, KernelPath path)
        {
            var output = new float[_d];
            // Scratch filled with garbage: the kernel must not depend on its contents.
            var scores = new float[SingleRowAttention.ScoresLength(keyCount)];
            Array.Fill(scores, float.NaN);
            fixed (float* q = _q, k = _keys, v = _values, s = scores, o = output)
            fixed (Half* kh = _keysHalf, vh = _valuesHalf)
            {
                if (_f16) SingleRowAttention.Run(_d, q + row * _d, kh, vh, _stride, keyCount, Scale, s, o, path);
                else SingleRowAttention.Run(_d, q + row * _d, k, v, _stride, keyCount, Scale, s, o, path);
            }
            return output;
        }

        private float Scale => 1f / MathF.Sqrt(_d);
    }
}

using System.Security.Cryptography;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>Q4_0, Q8_0, Q4_K and Q6_K weights repacked at load (ModelLoadOptions.RepackWeights, on by default): the layers'
/// matrices, the experts' and the output (a tied embedding included) are interleaved in place, in private copy-on-write
/// pages. Q4_0, Q8_0 and Q6_K models compute the same logits, bit for bit, as with the file's layout; Q4_K ones the same up to
/// float rounding (its layout has an arithmetic of its own), and a sequence's logits do not depend on what else is in
/// the batch. The file is never written, and two loads of one file do not see each other's pages. F16 matrices keep
/// the file's layout but become private copies too, with the same logits.</summary>
public class RepackedWeightsTests
{
    private static readonly int[] Prompt = [72, 101, 108, 108, 111, 44, 32, 119];

    /// <summary>Every logit of <paramref name="got"/> bit for bit <paramref name="expected"/> (the file layout's, or
    /// the one <paramref name="reference"/> names).</summary>
    internal static void AssertSameBits(float[] expected, float[] got, string what, string reference = "file layout")
    {
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]),
                        $"logit {i}: {what} {got[i]:R}, {reference} {expected[i]:R}");
    }

    /// <summary>Logits of a prompt (one batch, every position) and then four single-token steps, on
    /// <paramref name="threads"/> threads.</summary>
    internal static float[] Logits(Qwen2Model model, int threads = 2)
    {
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = threads });
        var all = new List<float>();
        var batch = Prompt.Select((t, i) => new BatchEntry(t, i, 0, true)).ToArray();
        int outputs = ctx.Decode(batch);
        for (int i = 0; i < outputs; i++) all.AddRange(ctx.Logits(i).ToArray());
        for (int step = 0; step < 4; step++)
        {
            ctx.Decode([new BatchEntry(97 + step, Prompt.Length + step, 0, true)]);
            all.AddRange(ctx.Logits(0).ToArray());
        }
        return all.ToArray();
    }

    [Fact]
    public void RepackedQ4_0GivesTheFileLayoutsLogitsBitForBit()
    {
        using var repacked = Qwen2Model.Load(SyntheticModels.SmallQ4_0);
        using var plain = Qwen2Model.Load(SyntheticModels.SmallQ4_0, new ModelLoadOptions { RepackWeights = false });
        var layer = repacked.Weights.Layers[1];
        foreach (var m in new[] { layer.Wq, layer.Wk, layer.Wv, layer.Wo, layer.WGate, layer.WUp, layer.WDown })
        {
            Assert.Equal(GgmlType.Q4_0, m.Type);
            Assert.Equal(WeightLayout.Interleaved8, m.Layout);
        }
        Assert.Equal(WeightLayout.Rows, repacked.Weights.TokenEmbedding.Layout);   // rows are looked up one at a time
        Assert.Equal(repacked.Weights.Output.Rows % 8 == 0 ? WeightLayout.Interleaved8 : WeightLayout.Rows, repacked.Weights.Output.Layout);
        Assert.All(plain.Weights.Layers, l => Assert.Equal(WeightLayout.Rows, l.Wq.Layout));

        AssertSameBits(Logits(plain), Logits(repacked), "repacked");
    }

    [Theory]
    [InlineData("tied q8_0")]
    [InlineData("tied q6_k")]
    [InlineData("moe q4_0")]
    public void OtherRepackedModelsGiveTheFileLayoutsLogitsBitForBit(string kind)
    {
        string path = kind switch { "tied q8_0" => SyntheticModels.SmallTiedQ8_0, "tied q6_k" => SyntheticModels.SmallTiedQ6_K, _ => SyntheticModels.SmallMoeQ4_0 };
        using var repacked = Qwen2Model.Load(path);
        using var plain = Qwen2Model.Load(path, new ModelLoadOptions { RepackWeights = false });
        var layer = repacked.Weights.Layers[0];
        bool expectRepack = kind switch
        {
            "tied q8_0" => System.Runtime.Intrinsics.X86.AvxVnni.IsSupported,
            // the hardware the 512-bit Q6_K kernel needs, not the repacker's own predicate
            "tied q6_k" => QwenSharp.Tensors.Kernels.Q6_KRows512.IsSupported
                           && QwenSharp.Tensors.Kernels.KernelTable.DotPath(GgmlType.Q6_K) == QwenSharp.Tensors.Simd.KernelPath.Vector256AvxVnni,
            _ => true,
        };
        var expected = expectRepack ? WeightLayout.Interleaved8 : WeightLayout.Rows;
        Assert.Equal(expected, layer.Wq.Layout);
        if (kind is "tied q8_0" or "tied q6_k")
        {
            // the tied embedding is the output matmul's matrix: repacked, and looked up by copying its row out
            Assert.True(repacked.Weights.TiedOutput);
            Assert.Equal(expected, repacked.Weights.TokenEmbedding.Layout);
            var row = new byte[repacked.Weights.TokenEmbedding.RowBytes];
            var fileRow = new byte[row.Length];
            for (int token = 0; token < repacked.Weights.TokenEmbedding.Rows; token += 37)
            {
                repacked.Weights.TokenEmbedding.CopyRow(token, row);
                plain.Weights.TokenEmbedding.CopyRow(token, fileRow);
                Assert.Equal(fileRow, row);
            }
        }
        if (layer.Moe is { } moe)
        {
            Assert.All(moe.ExpertGate, m => Assert.Equal(expected, m.Layout));
            Assert.All(moe.ExpertDown, m => Assert.Equal(expected, m.Layout));
            Assert.Equal(expected, moe.SharedDown.Layout);
            Assert.Equal(WeightLayout.Rows, plain.Weights.Layers[0].Moe!.ExpertUp[1].Layout);
        }
        AssertSameBits(Logits(plain), Logits(repacked), $"{kind} repacked");
    }

    [Fact]
    public void RepackedQ4_KGivesTheFileLayoutsLogitsUpToRounding()
    {
        using var repacked = Qwen2Model.Load(SyntheticModels.SmallTiedQ4_K);
        using var plain = Qwen2Model.Load(SyntheticModels.SmallTiedQ4_K, new ModelLoadOptions { RepackWeights = false });
        var layer = repacked.Weights.Layers[1];
        bool avx2 = System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;
        var expected = avx2 ? WeightLayout.Interleaved8 : WeightLayout.Rows;
        foreach (var m in new[] { layer.Wq, layer.Wk, layer.Wv, layer.Wo, layer.WGate, layer.WUp, layer.WDown, repacked.Weights.TokenEmbedding })
        {
            Assert.Equal(GgmlType.Q4_K, m.Type);
            Assert.Equal(expected, m.Layout);
        }
        var want = Logits(plain);
        var got = Logits(repacked);
        Assert.Equal(want.Length, got.Length);
        float scale = want.Max(MathF.Abs);
        Assert.True(scale > 1e-3f);
        for (int i = 0; i < want.Length; i++)
            Assert.True(MathF.Abs(want[i] - got[i]) <= 1e-4f * scale, $"logit {i}: repacked {got[i]:R}, file layout {want[i]:R}");
    }

    /// <summary>Sequences 2 and 5 decoded token by token alone, then beside five others (seven rows per matmul: four
    /// through the four-activation kernel, two through the two-activation kernel, one through the one-activation
    /// kernel): the same logits, bit for bit.</summary>
    [Fact]
    public void RepackedQ4_KLogitsDoNotDependOnTheBatch()
    {
        using var model = Qwen2Model.Load(SyntheticModels.SmallTiedQ4_K);
        const int steps = 6, sequences = 7;
        int[] watched = [2, 5];
        int Token(int seq, int pos) => 40 + 13 * seq + 7 * pos;
        var alone = new Dictionary<(int, int), float[]>();
        foreach (int seq in watched)
        {
            using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, MaxSequences = sequences });
            for (int pos = 0; pos < steps; pos++)
            {
                ctx.Decode([new BatchEntry(Token(seq, pos), pos, seq, true)]);
                alone[(seq, pos)] = ctx.Logits(0).ToArray();
            }
        }
        using (var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 2, MaxSequences = sequences }))
            for (int pos = 0; pos < steps; pos++)
            {
                var batch = Enumerable.Range(0, sequences).Select(seq => new BatchEntry(Token(seq, pos), pos, seq, true)).ToArray();
                ctx.Decode(batch);
                foreach (int seq in watched)
                {
                    var got = ctx.Logits(seq).ToArray();
                    var want = alone[(seq, pos)];
                    for (int i = 0; i < got.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]),
                                    $"sequence {seq} position {pos} logit {i}: in a batch of {sequences} {got[i]:R}, alone {want[i]:R}");
                }
            }
    }

    [Fact]
    public unsafe void F16MatricesBecomePrivateCopiesInTheFilesLayoutWithTheSameLogits()
    {
        string path = SyntheticModels.SmallF16;
        byte[] before = SHA256.HashData(File.ReadAllBytes(path));
        // one decode thread: the pages stay where the file put them (DecodeLayoutTests covers the moved ones)
        using var copied = Qwen2Model.Load(path, new ModelLoadOptions { DecodeThreads = 1 });
        using var plain = Qwen2Model.Load(path, new ModelLoadOptions { RepackWeights = false });
        var m = copied.Weights.Layers[1].WGate;
        Assert.Equal(GgmlType.F16, m.Type);
        Assert.Equal(WeightLayout.Rows, m.Layout);
        if (OperatingSystem.IsLinux())
        {
            // a matrix in whole 2 MiB windows: anonymous memory advised MADV_HUGEPAGE, no longer the file's
            nint inside = (nint)(m.Data + m.Rows * m.RowBytes / 2);
            var (pathname, flags) = QwenSharp.Tests.Formats.CopyOnWriteMappingTests.Vma(inside);
            Assert.Equal("", pathname);
            Assert.Contains("hg", flags.Split(' '));
            var p = plain.Weights.Layers[1].WGate;
            Assert.EndsWith(Path.GetFileName(path), QwenSharp.Tests.Formats.CopyOnWriteMappingTests.Vma((nint)(p.Data + p.Rows * p.RowBytes / 2)).Path);
        }
        AssertSameBits(Logits(plain), Logits(copied), "copied");
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
    }

    [Fact]
    public void TheFileIsNeverWrittenAndTwoLoadsKeepTheirOwnPages()
    {
        string path = SyntheticModels.SmallQ4_0;
        byte[] before = SHA256.HashData(File.ReadAllBytes(path));
        using var first = Qwen2Model.Load(path);
        using var second = Qwen2Model.Load(path);   // interleaving the first's pages again would scramble them
        Assert.Equal(WeightLayout.Interleaved8, second.Weights.Layers[0].WGate.Layout);
        var a = Logits(first);
        var b = Logits(second);
        Assert.Equal(a, b);
        using (var plain = Qwen2Model.Load(path, new ModelLoadOptions { RepackWeights = false }))
            Assert.Equal(Logits(plain), a);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
    }
}

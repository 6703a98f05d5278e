using System.Runtime.InteropServices;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Models;

/// <summary>A single-entry decode step runs each layer's gate, up, SwiGLU and the quantization of the down
/// projection's input as one job split by feed-forward rows (DecodeGateUpJob); the general path runs a gate/up matmul
/// and then SwiGLU and quantization on the calling thread. Both must give the same bits for every activation type
/// (Q8_0 blocks of 32, Q8_K blocks of 256, F16 and F32 elements), with slot edges inside a block and on one, one
/// thread or several; where a slot would be shorter than a block decode takes the general path (steps of several
/// entries always do: DecodeAttentionJobTests.StepsOfSeveralEntriesTakeTheGeneralPaths).</summary>
public class DecodeGateUpJobTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (string model in new[] { "q4_0", "tied-q8_0", "tied-q4_k", "tied-q6_k", "f16", "mha-f32", "tiny-gqa-f32" })
            foreach (int threads in new[] { 1, 2, 3, 4, 5 })
                data.Add(model, threads);
        return data;
    }

    private static string Model(string name) => name switch
    {
        "q4_0" => SyntheticModels.SmallQ4_0,          // F 768, Q8_0 input: at 5 threads slot edges at 144, 304... cut blocks of 32
        "tied-q8_0" => SyntheticModels.SmallTiedQ8_0,
        "tied-q4_k" => SyntheticModels.SmallTiedQ4_K, // F 768, Q8_K input (3 blocks): at 2 threads the middle block is cut
        "tied-q6_k" => SyntheticModels.SmallTiedQ6_K,
        "f16" => SyntheticModels.SmallF16,
        "mha-f32" => SyntheticModels.Get("mha-hd64-f32", SyntheticModels.Tiny with { HiddenSize = 256, HeadCount = 4, KvHeadCount = 4, Seed = 11 }),
        _ => SyntheticModels.TinyF32,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheOneJobFeedForwardGivesTheSameBitsAsTheGeneralPath(string name, int threads)
    {
        using var model = Qwen2Model.Load(Model(name));
        var options = new ContextOptions { ContextLength = 64, Threads = threads };
        using var fused = new Qwen2Context(model, options);
        using var general = new Qwen2Context(model, options) { FusedDecodeGateUp = false };
        DecodePathAgreement.AssertSameBits(24, threads * 17 + name.Length, 66, (general, "general path"), (fused, "one job"));
        // K-quant inputs come in blocks of 256: 768 rows over four or five threads leaves slots shorter than a block
        bool kQuant = name is "tied-q4_k" or "tied-q6_k";
        bool fits = !(kQuant && threads >= 4);
        Assert.Equal(fits, DecodeGateUpJob.Fits(model.Weights.Layers[0], threads));
        Assert.Equal(fits ? 24L * model.Config.LayerCount : 0, fused.FusedGateUpRuns);
        Assert.Equal(0, general.FusedGateUpRuns);
    }

    /// <summary>A job of two slots run by one thread alone (the other never came, as when it is descheduled): that
    /// thread norms its input, takes both slots and finishes the block their edge cuts, and the quantized row is the
    /// one the general path makes: the row normed and quantized, the whole gate and up rows, SwiGLU over the row, the
    /// row quantized.</summary>
    [Theory]
    [InlineData("tied-q4_k")]
    [InlineData("q4_0")]
    public unsafe void OneThreadAloneTakesEverySlotAndTheCutBlock(string name)
    {
        using var model = Qwen2Model.Load(Model(name));
        var layer = model.Weights.Layers[1];
        int h = layer.WGate.Cols, f = layer.WGate.Rows;
        var rng = new Random(5);
        var x = GC.AllocateArray<float>(h, pinned: true);
        for (int i = 0; i < h; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var normed = new float[h];
        Qwen2Context.RmsNormRow(x, layer.FfnNorm, model.Config.RmsNormEps, normed);
        var input = new byte[VecDot.ActivationRowBytes(layer.WGate.Type, h)];
        VecDot.QuantizeActivation(layer.WGate.Type, normed, input);
        int outBytes = (int)VecDot.ActivationRowBytes(layer.WDown.Type, f);

        // the general path
        var gate = new float[f];
        var up = new float[f];
        var expected = new byte[outBytes];
        fixed (byte* pin = input)
        fixed (float* g = gate, u = up)
        {
            layer.WGate.MatMulRows(0, f, pin, 1, g);
            layer.WUp.MatMulRows(0, f, pin, 1, u);
        }
        Qwen2Context.SwiGlu(gate, up);
        VecDot.QuantizeActivation(layer.WDown.Type, gate, expected);

        // the job, two slots, thread 0 alone, twice (a second run must not see the first's flags)
        var job = new DecodeGateUpJob(2);
        var inputs = new ThreadInputs(2, h);
        var gate2 = GC.AllocateArray<float>(f, pinned: true);
        var up2 = GC.AllocateArray<float>(f, pinned: true);
        var actual = GC.AllocateArray<byte>(outBytes, pinned: true);
        fixed (byte* pout = actual)
        fixed (float* g = gate2, u = up2, px = x)
            for (int run = 0; run < 2; run++)
            {
                Array.Clear(actual);
                inputs.Set(px, layer.FfnNorm, model.Config.RmsNormEps, layer.WGate.Type);
                job.Set(layer.WGate, g, layer.WUp, u, inputs, layer.WDown.Type, pout);
                job.Execute(0, 2);
                Assert.Equal(expected, actual);
            }
    }
}

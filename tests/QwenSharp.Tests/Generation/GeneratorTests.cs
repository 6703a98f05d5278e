using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tests.Models;

namespace QwenSharp.Tests.Generation;

public class GeneratorTests
{
    private static (Qwen2Model, Qwen2Context, Generator) Open(int ctxLength = 128)
    {
        var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = ctxLength, Threads = 2, KvCacheType = KvCacheType.F32 });
        return (model, ctx, new Generator(ctx));
    }

    private static readonly GenerationOptions Greedy20 = new() { Sampling = SamplingOptions.Greedy, MaxTokens = 20, StopOnEndTokens = false };

    [Fact]
    public void GreedyEqualsArgmaxOfFreshForwardPasses()
    {
        var (model, ctx, gen) = Open();
        using var _ = model; using var __ = ctx;
        int[] prompt = model.Tokenizer.Encode("The quick brown fox");
        var result = gen.Generate(prompt, Greedy20);
        Assert.Equal(20, result.Tokens.Count);
        Assert.Equal(FinishReason.Length, result.Reason);

        // Re-run every prefix from scratch through a fresh context: the argmax must be the generated token.
        using var check = new Qwen2Context(model, new ContextOptions { ContextLength = 128, Threads = 1, KvCacheType = KvCacheType.F32 });
        var all = prompt.Concat(result.Tokens).ToArray();
        check.Decode(all.Select((t, i) => new BatchEntry(t, i, 0, i >= prompt.Length - 1)).ToArray());
        for (int i = 0; i < result.Tokens.Count; i++)
            Assert.Equal(result.Tokens[i], System.Numerics.Tensors.TensorPrimitives.IndexOfMax(check.Logits(i)));
    }

    [Fact]
    public void TheSameSeedGivesTheSameTextAndAnotherSeedDiffers()
    {
        var (model, ctx, gen) = Open();
        using var _ = model; using var __ = ctx;
        int[] prompt = model.Tokenizer.Encode("Once upon a time");
        GenerationOptions Seeded(ulong seed) => new() { Sampling = new SamplingOptions { Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0, Seed = seed }, MaxTokens = 24, StopOnEndTokens = false };
        var a = gen.Generate(prompt, Seeded(1)).Tokens;
        var b = gen.Generate(prompt, Seeded(1)).Tokens;
        var c = gen.Generate(prompt, Seeded(2)).Tokens;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void APromptThatExtendsTheCachedTokensReusesThem()
    {
        var (model, ctx, gen) = Open();
        using var _ = model; using var __ = ctx;
        int[] first = model.Tokenizer.Encode("The quick brown fox");
        var r1 = gen.Generate(first, Greedy20);
        Assert.Equal(0, r1.ReusedPromptTokens);
        Assert.Equal(first.Length + 19, gen.CachedTokens.Count); // the 20th generated token was sampled, never decoded
        Assert.Equal(first.Concat(r1.Tokens), gen.Transcript);
        var second = gen.Transcript.Concat(model.Tokenizer.Encode(" and then")).ToArray();
        var r2 = gen.Generate(second, Greedy20);
        Assert.Equal(first.Length + 19, r2.ReusedPromptTokens);

        // The reused run produces what a cold run produces.
        var (m2, ctx2, cold) = Open();
        using var ___ = m2; using var ____ = ctx2;
        Assert.Equal(cold.Generate(second, Greedy20).Tokens, r2.Tokens);
    }

    [Fact]
    public void StopStringsEndTheTextBeforeTheStopString()
    {
        var (model, ctx, gen) = Open();
        using var _ = model; using var __ = ctx;
        int[] prompt = model.Tokenizer.Encode("Hello");
        string free = gen.Generate(prompt, Greedy20).Text;
        Assert.True(free.Length >= 6, "the greedy text is too short for the test: " + free);
        string stop = free.Substring(3, 2);
        var stopped = gen.Generate(prompt, Greedy20 with { StopStrings = [stop] });
        Assert.Equal(FinishReason.Stop, stopped.Reason);
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public void CancellationStopsGeneration()
    {
        var (model, ctx, gen) = Open();
        using var _ = model; using var __ = ctx;
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        var r = gen.Generate(model.Tokenizer.Encode("Hi"), Greedy20 with { MaxTokens = -1 }, _ => { if (++pieces == 3) cts.Cancel(); }, cts.Token);
        Assert.Equal(FinishReason.Cancelled, r.Reason);
        Assert.InRange(r.Tokens.Count, 3, 6);
    }

    [Fact]
    public void GenerationEndsWhenTheContextIsFull()
    {
        var (model, ctx, gen) = Open(ctxLength: 16);
        using var _ = model; using var __ = ctx;
        var r = gen.Generate(model.Tokenizer.Encode("Hello there"), Greedy20 with { MaxTokens = -1 });
        Assert.Equal(FinishReason.Length, r.Reason);
        Assert.Equal(16, gen.CachedTokens.Count);
        Assert.Equal(17, gen.Transcript.Count);
        var tooLong = Assert.Throws<QwenSharpException>(() => gen.Generate(Enumerable.Repeat(65, 16).ToArray(), Greedy20));
        Assert.Contains("context", tooLong.Message);
    }
}

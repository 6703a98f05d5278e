using System.Numerics.Tensors;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Models;

namespace QwenSharp.Tests.Generation;

public class BatchSchedulerTests
{
    private static GenerationOptions Seeded(ulong seed, int max = 24) => new()
    {
        Sampling = new SamplingOptions { Temperature = 1.0f, TopK = 0, TopP = 0.95f, MinP = 0, Seed = seed },
        MaxTokens = max, StopOnEndTokens = false,
    };

    private static BatchScheduler Open(Qwen2Model model, int parallel, int maxQueue = 64, int ctx = 256, int maxBatch = 64) =>
        new(model, new BatchSchedulerOptions { Parallel = parallel, MaxQueue = maxQueue, ContextLength = ctx, MaxBatch = maxBatch, Threads = 1, KvCacheType = KvCacheType.F32 });

    [Theory]
    [InlineData("f32")]
    [InlineData("q8")]
    public void BatchedLogitsEqualSingleSequenceLogits(string kind)
    {
        using var model = Qwen2Model.Load(kind == "f32" ? SyntheticModels.TinyF32 : SyntheticModels.TinyQ8);
        string[] texts = ["The quick brown fox", "Once upon a time there", "is it the end", "hello"];
        var prompts = texts.Select(t => model.Tokenizer.Encode(t)).ToArray();
        var options = new ContextOptions { ContextLength = 64, MaxSequences = 4, Threads = 2, KvCacheType = KvCacheType.F32 };

        // Alone: each sequence's prompt and then three one-token decode steps, its own forward passes only.
        using var alone = new Qwen2Context(model, options);
        var expected = new float[4][][];
        for (int s = 0; s < 4; s++)
        {
            expected[s] = new float[4][];
            alone.Decode(prompts[s].Select((t, i) => new BatchEntry(t, i, s, i == prompts[s].Length - 1)).ToArray());
            expected[s][0] = alone.Logits(0).ToArray();
            for (int step = 1; step < 4; step++)
            {
                int token = TensorPrimitives.IndexOfMax(expected[s][step - 1]);
                alone.Decode([new BatchEntry(token, prompts[s].Length + step - 1, s, true)]);
                expected[s][step] = alone.Logits(0).ToArray();
            }
        }

        // Batched: all prompts in one pass, then every step's four tokens in one pass.
        using var batched = new Qwen2Context(model, options);
        batched.Decode(Enumerable.Range(0, 4).SelectMany(s => prompts[s].Select((t, i) => new BatchEntry(t, i, s, i == prompts[s].Length - 1))).ToArray());
        var got = Enumerable.Range(0, 4).Select(_ => new float[4][]).ToArray();
        for (int s = 0; s < 4; s++) got[s][0] = batched.Logits(s).ToArray();
        for (int step = 1; step < 4; step++)
        {
            batched.Decode(Enumerable.Range(0, 4).Select(s => new BatchEntry(TensorPrimitives.IndexOfMax(got[s][step - 1]), prompts[s].Length + step - 1, s, true)).ToArray());
            for (int s = 0; s < 4; s++) got[s][step] = batched.Logits(s).ToArray();
        }

        for (int s = 0; s < 4; s++)
            for (int step = 0; step < 4; step++)
            {
                float maxDiff = 0;
                for (int v = 0; v < expected[s][step].Length; v++) maxDiff = Math.Max(maxDiff, Math.Abs(expected[s][step][v] - got[s][step][v]));
                Assert.True(maxDiff <= 1e-4f, $"sequence {s} step {step}: batched logits differ by {maxDiff}");
                Assert.Equal(TensorPrimitives.IndexOfMax(expected[s][step]), TensorPrimitives.IndexOfMax(got[s][step]));
            }
    }

    [Fact]
    public async Task GreedyOutputMatchesTheSingleSequenceGenerator()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 256, Threads = 2, KvCacheType = KvCacheType.F32 });
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 20, StopOnEndTokens = false };
        int[] prompt = model.Tokenizer.Encode("The quick brown fox");
        var expected = new Generator(ctx).Generate(prompt, options);

        using var scheduler = Open(model, parallel: 2);
        var pieces = new List<GeneratedPiece>();
        var result = await scheduler.Submit(new GenerationRequest(prompt, options)).WaitAsync(pieces.Add);
        Assert.Equal(expected.Tokens, pieces.Where(p => p.Token >= 0).Select(p => p.Token));
        Assert.Equal(expected.Text, result.Text);
        Assert.Equal(expected.Text, string.Concat(pieces.Select(p => p.Text)));
        Assert.Equal(FinishReason.Length, result.Reason);
        Assert.Equal(20, result.GeneratedTokens);
    }

    [Fact]
    public async Task SixteenSeededRequestsInOneBatchEqualEachRunAlone()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyQ8);
        string[] words = ["The", "Once", "hello", "is it", "and the", "for you", "at the end", "her"];
        var requests = Enumerable.Range(0, 16)
            .Select(i => new GenerationRequest(model.Tokenizer.Encode(words[i % words.Length] + " " + i), Seeded((ulong)(100 + i), 16 + i % 5)))
            .ToArray();

        var alone = new List<(int[] Tokens, string Text)>();
        using (var single = Open(model, parallel: 1))
            foreach (var r in requests)
            {
                var tokens = new List<int>();
                var res = await single.Submit(r).WaitAsync(p => { if (p.Token >= 0) tokens.Add(p.Token); });
                alone.Add((tokens.ToArray(), res.Text));
            }

        using var batched = Open(model, parallel: 16, maxBatch: 32); // prompts arrive in chunks across steps
        var handles = requests.Select(r => batched.Submit(r)).ToArray();
        var together = await Task.WhenAll(handles.Select(async h =>
        {
            var tokens = new List<int>();
            var res = await h.WaitAsync(p => { if (p.Token >= 0) tokens.Add(p.Token); });
            return (tokens.ToArray(), res.Text);
        }));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(alone[i].Tokens, together[i].Item1);
            Assert.Equal(alone[i].Text, together[i].Item2);
        }
        Assert.True(alone.Select(a => string.Join(",", a.Tokens)).Distinct().Count() > 8, "the requests should not all produce the same tokens");
        Assert.Equal(0, batched.Metrics.ActiveSequences);
        Assert.Equal(0, batched.Metrics.QueueDepth);
    }

    [Fact]
    public async Task APromptExtendingAFinishedConversationReusesItsCache()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 2);
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 10, StopOnEndTokens = false };
        int[] first = model.Tokenizer.Encode("The quick brown fox");
        var tokens = new List<int>();
        var r1 = await scheduler.Submit(new GenerationRequest(first, options)).WaitAsync(p => { if (p.Token >= 0) tokens.Add(p.Token); });
        Assert.Equal(0, r1.ReusedPromptTokens);

        int[] second = [.. first, .. tokens, .. model.Tokenizer.Encode(" and then")];
        var r2 = await scheduler.Submit(new GenerationRequest(second, options)).WaitAsync();
        Assert.Equal(first.Length + 9, r2.ReusedPromptTokens); // the 10th token was sampled but never decoded

        using var cold = Open(model, parallel: 1);
        Assert.Equal((await cold.Submit(new GenerationRequest(second, options)).WaitAsync()).Text, r2.Text);
        Assert.Equal(first.Length + second.Length, scheduler.Metrics.PromptTokensTotal);
        Assert.Equal(first.Length + 9, scheduler.Metrics.ReusedPromptTokensTotal);
    }

    [Fact]
    public async Task ACancelledRequestStopsAndFreesItsSlot()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        // A context far past what the test thread's wait can let through: with 256 (the tiny model's own), after
        // this session's faster decode steps the scheduler sometimes reached the end of the context before Cancel
        // ran (reason Length, 2 failures in 5 runs of the suite); an ignored cancel still ends at the context.
        using var scheduler = Open(model, parallel: 1, ctx: 8192);
        using var cts = new CancellationTokenSource();
        var endless = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = -1, StopOnEndTokens = false };
        var handle = scheduler.Submit(new GenerationRequest(model.Tokenizer.Encode("hello"), endless), cts.Token);
        await handle.Pieces.ReadAsync();
        cts.Cancel();
        long stepsAtCancel = scheduler.Metrics.StepsTotal, generatedAtCancel = scheduler.Metrics.GeneratedTokensTotal;
        var result = await handle.WaitAsync();
        Assert.Equal(FinishReason.Cancelled, result.Reason);
        // the step in flight when Cancel ran may finish; the next one is never started for this request. (How many
        // tokens came before Cancel depends on how long this thread waited after the first piece: a fixed bound on
        // them failed once in a loaded CI run, 207 tokens; an ignored cancel runs on to the 8192-token context.)
        Assert.InRange(scheduler.Metrics.StepsTotal - stepsAtCancel, 0, 1);
        Assert.InRange(result.GeneratedTokens, 1, generatedAtCancel + 1);
        Assert.Equal(0, scheduler.Metrics.ActiveSequences);
        // the slot is free again: the next request runs to completion
        var next = await scheduler.Submit(new GenerationRequest(model.Tokenizer.Encode("hi"), endless with { MaxTokens = 3 })).WaitAsync();
        Assert.Equal(3, next.GeneratedTokens);
        Assert.Equal(1, scheduler.Metrics.RequestsCancelled);
    }

    [Fact]
    public async Task AFullQueueRefusesTheNextRequest()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1, maxQueue: 1);
        var endless = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = -1, StopOnEndTokens = false };
        int[] prompt = model.Tokenizer.Encode("hello");
        var a = scheduler.Submit(new GenerationRequest(prompt, endless));
        var b = scheduler.Submit(new GenerationRequest(prompt, endless));
        Assert.Throws<SchedulerQueueFullException>(() => scheduler.Submit(new GenerationRequest(prompt, endless)));
        a.Cancel();
        b.Cancel();
        Assert.Equal(FinishReason.Cancelled, (await a.WaitAsync()).Reason);
        Assert.Equal(FinishReason.Cancelled, (await b.WaitAsync()).Reason);
        Assert.Equal(0, scheduler.Metrics.QueueDepth);
    }

    [Fact]
    public async Task APromptLongerThanTheContextFailsUnlessTruncationIsAsked()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1, ctx: 32);
        int[] prompt = Enumerable.Range(0, 40).Select(i => 100 + i).ToArray();
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 4, StopOnEndTokens = false };
        var error = Assert.Throws<PromptTooLongException>(() => scheduler.Submit(new GenerationRequest(prompt, options)));
        Assert.Equal(40, error.PromptTokens);
        Assert.Equal(32, error.ContextLength);

        var result = await scheduler.Submit(new GenerationRequest(prompt, options) { TruncatePrompt = true }).WaitAsync();
        Assert.Equal(4, result.GeneratedTokens);
        Assert.Equal(40 - 28, result.TruncatedPromptTokens); // 32 minus room for the 4 answer tokens
        // the request's own smaller context (num_ctx) applies as well
        Assert.Throws<PromptTooLongException>(() => scheduler.Submit(new GenerationRequest(prompt[..20], options) { ContextLimit = 16 }));
    }

    [Fact]
    public async Task ZeroMaxTokensProcessesThePromptAndGeneratesNothing()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1);
        int[] prompt = model.Tokenizer.Encode("hello there");
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 0, StopOnEndTokens = false };
        var pieces = new List<GeneratedPiece>();
        var result = await scheduler.Submit(new GenerationRequest(prompt, options)).WaitAsync(pieces.Add);
        Assert.Equal(0, result.GeneratedTokens);
        Assert.Equal("", result.Text);
        Assert.Empty(pieces);
        Assert.Equal(FinishReason.Length, result.Reason);
        // the prompt is cached: the same prompt again reuses all but its last token
        var again = await scheduler.Submit(new GenerationRequest(prompt, options with { MaxTokens = 1 })).WaitAsync();
        Assert.Equal(prompt.Length - 1, again.ReusedPromptTokens);
    }

    [Fact]
    public async Task GenerationStopsAtTheEndOfTheContext()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1, ctx: 32);
        int[] prompt = model.Tokenizer.Encode("hello there");
        var endless = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = -1, StopOnEndTokens = false };
        var result = await scheduler.Submit(new GenerationRequest(prompt, endless)).WaitAsync();
        Assert.Equal(FinishReason.Length, result.Reason);
        Assert.Equal(32 - prompt.Length, result.GeneratedTokens);
    }

    [Fact]
    public async Task LogprobsAreTheLogSoftmaxOfTheModelsLogits()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1);
        int[] prompt = model.Tokenizer.Encode("The quick");
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 1, StopOnEndTokens = false };
        var pieces = new List<GeneratedPiece>();
        await scheduler.Submit(new GenerationRequest(prompt, options) { TopLogprobs = 3 }).WaitAsync(pieces.Add);

        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 1, KvCacheType = KvCacheType.F32 });
        ctx.Decode(prompt.Select((t, i) => new BatchEntry(t, i, 0, i == prompt.Length - 1)).ToArray());
        var logits = ctx.Logits(0).ToArray().Select(v => (double)v).ToArray();
        double max = logits.Max(), logZ = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        var ranked = logits.Select((l, id) => (l, id)).OrderByDescending(p => p.l).Take(3).ToArray();

        var piece = Assert.Single(pieces);
        Assert.Equal(ranked[0].id, piece.Token);
        Assert.Equal(ranked[0].l - logZ, piece.Logprob, 3);
        Assert.Equal(ranked.Select(r => r.id), piece.TopLogprobs!.Select(t => t.Token));
        for (int i = 0; i < 3; i++) Assert.Equal(ranked[i].l - logZ, piece.TopLogprobs![i].Logprob, 3);
    }

    [Fact]
    public async Task StopStringsAndEndTokensEndGeneration()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 2);
        int[] prompt = model.Tokenizer.Encode("Hello");
        var greedy = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 20, StopOnEndTokens = false };
        string free = (await scheduler.Submit(new GenerationRequest(prompt, greedy)).WaitAsync()).Text;
        Assert.True(free.Length >= 6, "the greedy text is too short for the test: " + free);
        string stop = free.Substring(3, 2);
        var stopped = await scheduler.Submit(new GenerationRequest(prompt, greedy with { StopStrings = [stop] })).WaitAsync();
        Assert.Equal(FinishReason.Stop, stopped.Reason);
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public async Task LastTokenEmbeddingTimesTheTiedEmbeddingGivesTheLogits()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var scheduler = Open(model, parallel: 1);
        int[] tokens = model.Tokenizer.Encode("The quick brown fox");
        float[] hidden = await scheduler.EmbedAsync(tokens, EmbeddingPooling.LastToken, normalize: false);

        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 64, Threads = 1, KvCacheType = KvCacheType.F32 });
        ctx.Decode(tokens.Select((t, i) => new BatchEntry(t, i, 0, i == tokens.Length - 1)).ToArray());
        var logits = ctx.Logits(0);
        var emb = model.Weights.TokenEmbedding;
        var row = new float[model.Config.HiddenSize];
        unsafe
        {
            foreach (int id in new[] { 0, 17, 300, logits.Length - 1 })
            {
                Dequantize.Row(emb.Type, new ReadOnlySpan<byte>(emb.Row(id), (int)emb.RowBytes), row);
                Assert.Equal(logits[id], TensorPrimitives.Dot(row, hidden), 3);
            }
        }

        float[] normalized = await scheduler.EmbedAsync(tokens, EmbeddingPooling.Mean);
        Assert.Equal(1f, TensorPrimitives.Norm(normalized), 4);
        float[] again = await scheduler.EmbedAsync(tokens, EmbeddingPooling.Mean);
        Assert.Equal(normalized, again);
        Assert.NotEqual(normalized, await scheduler.EmbedAsync(model.Tokenizer.Encode("something else"), EmbeddingPooling.Mean));
    }
}

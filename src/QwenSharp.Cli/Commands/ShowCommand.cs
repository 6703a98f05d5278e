using System.CommandLine;
using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen show MODEL`: what is in a model file, without running it.</summary>
internal static class ShowCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo`" };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Context length for the memory plan (default: the model's trained context)" };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache type for the memory plan: f16 or f32 (default f16)", DefaultValueFactory = _ => "f16" };
        var cmd = new Command("show", "Show a model's architecture, size, tensor types, context, tokenizer and memory needs") { model, ctx, kvType };
        cmd.SetAction(r =>
        {
            using var m = ModelLocator.Load(r.GetValue(model)!, io);
            Print(m, io.Out);
            PrintMemory(m, io.Out, r.GetValue(ctx), r.GetValue(kvType));
            return 0;
        });
        return cmd;
    }

    public static void Print(Qwen2Model m, TextWriter o)
    {
        var c = m.Config;
        long parameters = 0, bytes = 0;
        var types = new SortedDictionary<string, int>();
        foreach (var t in m.Source.Tensors)
        {
            parameters += t.ElementCount;
            bytes += t.ByteSize;
            string name = GgmlTypeInfo.Name(t.Type);
            types[name] = types.GetValueOrDefault(name) + 1;
        }
        o.WriteLine("  Model");
        o.WriteLine($"    name                {m.Name}");
        o.WriteLine($"    architecture        {c.Architecture}");
        o.WriteLine($"    parameters          {FormatCount(parameters)} ({parameters:N0})");
        o.WriteLine($"    weights             {bytes / 1048576.0:F1} MiB");
        o.WriteLine($"    tensor types        {string.Join(", ", types.Select(kv => $"{kv.Key} x{kv.Value}"))}");
        o.WriteLine($"    context length      {c.ContextLength}");
        o.WriteLine($"    embedding length    {c.HiddenSize}");
        o.WriteLine($"    layers              {c.LayerCount}");
        o.WriteLine($"    heads / kv heads    {c.HeadCount} / {c.KvHeadCount}");
        o.WriteLine($"    feed forward        {c.FeedForwardSize}");
        if (c.Moe is { } moe)
            o.WriteLine($"    experts             {moe.ExpertCount} ({moe.ExpertUsedCount} used), width {moe.ExpertFeedForwardSize}, shared expert {moe.SharedFeedForwardSize}");
        o.WriteLine($"    rope freq base      {c.RopeFreqBase}");
        o.WriteLine($"    rms norm eps        {c.RmsNormEps}");
        o.WriteLine($"    tied embeddings     {(m.Weights.TiedOutput ? "yes" : "no")}");
        o.WriteLine();
        o.WriteLine("  Tokenizer");
        o.WriteLine(m.Tokenizer.Model == "llama" ? "    model               SentencePiece BPE with byte fallback (llama)" : "    model               byte-level BPE (gpt2), pre-tokenizer qwen2");
        o.WriteLine($"    vocabulary          {m.Tokenizer.VocabSize} tokens ({c.VocabSize} embedding rows)");
        o.WriteLine($"    eos / bos / pad     {Token(m, m.Special.Eos)} / {Token(m, m.Special.Bos)} / {Token(m, m.Special.Pad)}");
        o.WriteLine($"    stops on            {string.Join(", ", m.Special.StopTokens.Select(id => Token(m, id)))}");
        o.WriteLine();
        o.WriteLine("  Chat template");
        o.WriteLine(m.ChatTemplate is null ? "    (none: ChatML is used)" : "    " + m.ChatTemplate.ReplaceLineEndings("\n    "));
    }

    /// <summary>The memory plan (MemoryPlan): weights as stored, KV cache and buffers at the context asked for.</summary>
    public static void PrintMemory(Qwen2Model m, TextWriter o, int ctx, string? kvType)
    {
        if (ctx < 0) throw new QwenSharpException($"--ctx must be positive, got {ctx}");
        var kv = kvType?.ToLowerInvariant() switch
        {
            "f16" or null => KvCacheType.F16,
            "f32" => KvCacheType.F32,
            var other => throw new QwenSharpException($"--kv-type must be f16 or f32, got '{other}'"),
        };
        var plan = MemoryPlan.ForFile(m.Source, m.Config, ctx > 0 ? ctx : m.Config.ContextLength, kv);
        o.WriteLine();
        o.WriteLine("  Memory");
        o.WriteLine($"    parameters          {MemoryPlan.FormatCount(plan.ParameterCount)} ({plan.ParameterCount:N0})"
                    + (m.Config.Moe != null ? $", {MemoryPlan.FormatCount(plan.ActiveParameterCount)} active per token" : ""));
        o.WriteLine($"    weights             {MemoryPlan.FormatBytes(plan.WeightBytes)}");
        o.WriteLine($"    KV cache            {MemoryPlan.FormatBytes(plan.KvCacheBytes)} ({plan.ContextLength} tokens, {kv})");
        o.WriteLine($"    buffers             {MemoryPlan.FormatBytes(plan.BufferBytes)}");
        o.WriteLine($"    total               {MemoryPlan.FormatBytes(plan.TotalBytes)}");
        long? available = AvailableMemory.Detect();
        if (available is long a)
            o.WriteLine($"    available           {MemoryPlan.FormatBytes(a)}{(plan.TotalBytes > a ? "  (does not fit)" : "")}");
    }

    private static string Token(Qwen2Model m, int? id) => id is int i ? $"{m.Tokenizer.TokenText(i)} ({i})" : "-";

    private static string FormatCount(long n) => n >= 1_000_000_000 ? $"{n / 1e9:F2}B" : n >= 1_000_000 ? $"{n / 1e6:F2}M" : $"{n / 1e3:F1}K";
}

using System.CommandLine;
using System.Text.Json;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>Machine-readable commands for conformance checks against other runtimes. Their JSON shapes are a
/// contract: `tokenize` -> {"ids":[...]}, `logits` -> {"n_vocab":N,"logits":[[...],...]}, `greedy` -> {"ids":[...]}.
/// They use an F32 KV cache by default so that nothing but the arithmetic itself differs.</summary>
internal static class ConformanceCommands
{
    public static Command Tokenize(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo`" };
        var text = new Option<string>("--text") { Description = "Text to tokenize (special tokens are parsed, nothing is added)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\":[...]}" };
        var cmd = new Command("tokenize", "Print the token ids of a text") { model, text, json };
        cmd.SetAction(r =>
        {
            using var m = ModelLocator.Load(r.GetValue(model)!, io);
            int[] ids = m.Tokenizer.Encode(r.GetValue(text)!, parseSpecial: true);
            if (r.GetValue(json)) WriteIds(io.Out, ids);
            else foreach (int id in ids) io.Out.WriteLine($"{id}\t{m.Tokenizer.TokenText(id)}");
            return 0;
        });
        return cmd;
    }

    public static Command Logits(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo`" };
        var tokens = TokensOption();
        var all = new Option<bool>("--all") { Description = "Logits of every position, not only the last" };
        var json = new Option<bool>("--json") { Description = "Print {\"n_vocab\":N,\"logits\":[[...],...]}" };
        var runtime = new RuntimeOptions(defaultKvType: "f32");
        var cmd = new Command("logits", "Print the logits after a token sequence") { model, tokens, all, json };
        runtime.AddTo(cmd);
        cmd.SetAction(r =>
        {
            int[] ids = ParseTokens(r.GetValue(tokens)!);
            using var m = ModelLocator.Load(r.GetValue(model)!, io, runtime.LoadOptions(r));
            var options = runtime.Read(r);
            using var ctx = new Qwen2Context(m, options with { ContextLength = options.ContextLength > 0 ? options.ContextLength : Math.Max(ids.Length, 16) });
            bool every = r.GetValue(all);
            var batch = new BatchEntry[ids.Length];
            for (int i = 0; i < ids.Length; i++) batch[i] = new BatchEntry(ids[i], i, 0, every || i == ids.Length - 1);
            int outputs = ctx.Decode(batch);
            if (r.GetValue(json))
            {
                using var w = new Utf8JsonWriter(OutStream(io));
                w.WriteStartObject();
                w.WriteNumber("n_vocab", m.Config.VocabSize);
                w.WriteStartArray("logits");
                for (int o = 0; o < outputs; o++)
                {
                    w.WriteStartArray();
                    foreach (float v in ctx.Logits(o))
                    {
                        if (!float.IsFinite(v)) throw new QwenSharpException($"the model produced a non-finite logit ({v}) at output {o}");
                        w.WriteNumberValue(v);
                    }
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
                w.Flush();
                io.Out.WriteLine();
            }
            else
            {
                for (int o = 0; o < outputs; o++)
                {
                    var l = ctx.Logits(o);
                    int best = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(l);
                    io.Out.WriteLine($"output {o}: argmax {best} ({m.Tokenizer.TokenText(best)}) logit {l[best]:G6}");
                }
            }
            return 0;
        });
        return cmd;
    }

    public static Command Greedy(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo`" };
        var tokens = TokensOption();
        var n = new Option<int>("--n") { Description = "Tokens to generate (exactly this many: end tokens do not stop it)", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\":[...]}" };
        var runtime = new RuntimeOptions(defaultKvType: "f32");
        var cmd = new Command("greedy", "Greedy (argmax) continuation of a token sequence") { model, tokens, n, json };
        runtime.AddTo(cmd);
        cmd.SetAction(r =>
        {
            int[] ids = ParseTokens(r.GetValue(tokens)!);
            int count = r.GetValue(n);
            if (count < 0) throw new QwenSharpException($"--n must be >= 0, got {count}");
            using var m = ModelLocator.Load(r.GetValue(model)!, io, runtime.LoadOptions(r));
            var options = runtime.Read(r);
            using var ctx = new Qwen2Context(m, options with { ContextLength = options.ContextLength > 0 ? options.ContextLength : ids.Length + count + 1 });
            var generator = new Generator(ctx);
            var result = generator.Generate(ids, new GenerationOptions
            {
                Sampling = SamplingOptions.Greedy,
                MaxTokens = count,
                StopOnEndTokens = false,
            });
            if (r.GetValue(json)) WriteIds(io.Out, result.Tokens);
            else io.Out.WriteLine(string.Join(" ", result.Tokens));
            return 0;
        });
        return cmd;
    }

    private static Option<string> TokensOption() =>
        new("--tokens") { Description = "Comma-separated token ids, e.g. 9707,1879", Required = true };

    internal static int[] ParseTokens(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new QwenSharpException("--tokens is empty: give comma-separated token ids");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new QwenSharpException($"--tokens: '{parts[i]}' is not a token id");
        return ids;
    }

    private static void WriteIds(TextWriter o, IReadOnlyList<int> ids) =>
        o.WriteLine("{\"ids\":[" + string.Join(",", ids) + "]}");

    private static Stream OutStream(CliIO io) => new TextWriterStream(io.Out);
}

/// <summary>Lets a Utf8JsonWriter write into the command's TextWriter (the console or a test's StringWriter).</summary>
internal sealed class TextWriterStream(TextWriter writer) : Stream
{
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => writer.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer) => writer.Write(System.Text.Encoding.UTF8.GetString(buffer));
}

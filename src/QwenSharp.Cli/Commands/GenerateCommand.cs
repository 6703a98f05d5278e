using System.CommandLine;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen generate MODEL --prompt TEXT`: raw completion of a text, no chat template.</summary>
internal static class GenerateCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo`" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "The text to continue (special tokens are parsed)" };
        var fimPrefix = new Option<string>("--fim-prefix") { Description = "Fill in the middle (code models): the code before the gap" };
        var fimSuffix = new Option<string>("--fim-suffix") { Description = "Fill in the middle: the code after the gap" };
        var runtime = new RuntimeOptions();
        var sampling = new SamplingFlags();
        var cmd = new Command("generate", "Continue a text (raw completion, no chat template)") { model, prompt, fimPrefix, fimSuffix };
        runtime.AddTo(cmd);
        sampling.AddTo(cmd);
        cmd.SetAction(r =>
        {
            using var m = ModelLocator.Load(r.GetValue(model)!, io, runtime.LoadOptions(r));
            var options = sampling.Read(r, m.DefaultSampling);
            string? text = r.GetValue(prompt), before = r.GetValue(fimPrefix), after = r.GetValue(fimSuffix);
            if ((before ?? after) != null && text != null) throw new QwenSharpException("give either --prompt or --fim-prefix/--fim-suffix, not both");
            if ((before ?? after ?? text) == null) throw new QwenSharpException("give --prompt, or --fim-prefix and --fim-suffix");
            int[] tokens = text != null ? m.Tokenizer.Encode(text, parseSpecial: true) : FimPrompt.Build(m.Tokenizer, before ?? "", after ?? "");
            if (tokens.Length == 0) throw new QwenSharpException("--prompt is empty");
            using var ctx = new Qwen2Context(m, runtime.Read(r));
            var generator = new Generator(ctx);
            generator.Generate(tokens, options, text => { io.Out.Write(text); io.Out.Flush(); });
            io.Out.WriteLine();
            return 0;
        });
        return cmd;
    }
}

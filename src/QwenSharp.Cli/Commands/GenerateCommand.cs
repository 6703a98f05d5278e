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
        var prompt = new Option<string>("--prompt", "-p") { Description = "The text to continue (special tokens are parsed)", Required = true };
        var runtime = new RuntimeOptions();
        var sampling = new SamplingFlags();
        var cmd = new Command("generate", "Continue a text (raw completion, no chat template)") { model, prompt };
        runtime.AddTo(cmd);
        sampling.AddTo(cmd);
        cmd.SetAction(r =>
        {
            using var m = ModelLocator.Load(r.GetValue(model)!, io, runtime.LoadOptions(r));
            var options = sampling.Read(r, m.DefaultSampling);
            int[] tokens = m.Tokenizer.Encode(r.GetValue(prompt)!, parseSpecial: true);
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

using System.CommandLine;
using QwenSharp.Formats;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen convert DIR --out FILE.gguf --type TYPE`: a HuggingFace Qwen folder to a GGUF file llama.cpp and
/// Ollama load (the same keys, names and types as llama.cpp's own converter and quantizer). Progress on stderr.</summary>
internal static class ConvertCommand
{
    public static Command Create(CliIO io)
    {
        var dir = new Argument<string>("dir") { Description = "A HuggingFace model folder (config.json, *.safetensors, tokenizer files)" };
        var output = new Option<string>("--out", "-o") { Description = "The GGUF file to write", Required = true };
        var type = new Option<string>("--type") { Description = "f32, f16, bf16, q8_0, q4_0, q4_k_m or q6_k (default f16)", DefaultValueFactory = _ => "f16" };
        var cmd = new Command("convert", "Convert a HuggingFace folder to GGUF") { dir, output, type };
        cmd.SetAction(r =>
        {
            string source = r.GetValue(dir)!;
            if (!Directory.Exists(source)) throw new QwenSharpException($"{source}: not a folder");
            var t = GgufOutputTypes.Parse(r.GetValue(type)!);
            var result = HfToGguf.Convert(source, r.GetValue(output)!, t, line => io.Error.WriteLine(line));
            io.Out.WriteLine($"{r.GetValue(output)}: {result.TensorCount} tensors, {result.Bytes:N0} bytes");
            return 0;
        });
        return cmd;
    }
}

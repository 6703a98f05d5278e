namespace QwenSharp.Cli.Tests;

/// <summary>Runs the `qwen` command in-process through Program.Run with in-memory streams.</summary>
internal static class QwenCli
{
    public static (int Code, string Out, string Err) QwenWithInput(string stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Program.Run(args, output, error, new StringReader(stdin));
        return (code, output.ToString(), error.ToString());
    }

    public static (int Code, string Out, string Err) Qwen(params string[] args) => QwenWithInput("", args);
}

using System.CommandLine;
using QwenSharp.Cli.Commands;

namespace QwenSharp.Cli;

/// <summary>The `qwen` command. Every failure ends in one line on stderr naming the cause and a non-zero exit code:
/// 2 for a bad command line, 1 for anything else (bad model file, context full, ...).</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error, Console.In);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var io = new CliIO(stdout, stderr, stdin);
        var root = new RootCommand("QwenSharp: run Qwen1.5 models locally in pure C#")
        {
            RunCommand.Create(io),
            GenerateCommand.Create(io),
            ShowCommand.Create(io),
            ConformanceCommands.Tokenize(io),
            ConformanceCommands.Logits(io),
            ConformanceCommands.Greedy(io),
            BenchCommand.Create(io),
            TemplateCommand.Create(io),
            ConvertCommand.Create(io),
            ServeCommand.Create(io),
        };
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            stderr.WriteLine("qwen: " + parsed.Errors[0].Message);
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (QwenSharpException e)
        {
            stderr.WriteLine("qwen: " + OneLine(e.Message));
            return 1;
        }
        catch (IOException e)
        {
            stderr.WriteLine("qwen: " + OneLine(e.Message));
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            stderr.WriteLine("qwen: " + OneLine(e.Message));
            return 1;
        }
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");
}

/// <summary>The streams a command talks to (the console, or a test's writers).</summary>
public sealed record CliIO(TextWriter Out, TextWriter Error, TextReader In);

using System.CommandLine;
using QwenSharp.Chat;
using QwenSharp.Generation;
using QwenSharp.Models;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen run MODEL [PROMPT]`: an interactive chat (or one answer when a prompt is given) that streams
/// tokens as they are made and keeps the KV cache across turns.</summary>
internal static class RunCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string>("model") { Description = "A .gguf file, a HuggingFace folder, or `demo` for a small random-weight model" };
        var prompt = new Argument<string?>("prompt") { Description = "Answer this once and exit", Arity = ArgumentArity.ZeroOrOne };
        var system = new Option<string?>("--system") { Description = "System prompt (default: the model's, 'You are a helpful assistant.')" };
        var runtime = new RuntimeOptions();
        var sampling = new SamplingFlags();
        var cmd = new Command("run", "Chat with a model") { model, prompt, system };
        runtime.AddTo(cmd);
        sampling.AddTo(cmd);
        cmd.SetAction(r =>
        {
            using var m = ModelLocator.Load(r.GetValue(model)!, io, runtime.LoadOptions(r));
            var options = sampling.Read(r, m.DefaultSampling);
            using var ctx = new Qwen2Context(m, runtime.Read(r));
            var formatter = ChatPromptFormatter.ForModel(m);
            if (formatter.FallbackReason is not null) io.Error.WriteLine("qwen: " + formatter.FallbackReason);
            var chat = new ChatSession(new Generator(ctx), r.GetValue(system), formatter);
            string? once = r.GetValue(prompt);
            if (once is not null)
            {
                chat.Send(once, options, text => { io.Out.Write(text); io.Out.Flush(); });
                io.Out.WriteLine();
                return 0;
            }
            return Interactive(chat, options, io);
        });
        return cmd;
    }

    private static int Interactive(ChatSession chat, GenerationOptions options, CliIO io)
    {
        CancellationTokenSource? answering = null;
        // Ctrl+C stops the answer being written, not the program (as in Ollama); at the prompt it says how to leave.
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            var current = answering;
            if (current != null) current.Cancel();
            else io.Error.WriteLine("\nUse /bye or Ctrl+D to exit.");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            io.Error.WriteLine("Type a message; /clear starts over, /bye exits.");
            while (true)
            {
                io.Out.Write(">>> ");
                io.Out.Flush();
                string? line = io.In.ReadLine();
                if (line is null || line.Trim() == "/bye") break;
                if (line.Trim() == "/clear")
                {
                    chat.Clear();
                    io.Error.WriteLine("Cleared the conversation.");
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                answering = new CancellationTokenSource();
                try
                {
                    var result = chat.Send(line, options, text => { io.Out.Write(text); io.Out.Flush(); }, answering.Token);
                    io.Out.WriteLine();
                    if (result.Reason == FinishReason.Cancelled) io.Error.WriteLine("(stopped)");
                }
                catch (ContextFullException e)
                {
                    io.Out.WriteLine();
                    io.Error.WriteLine("qwen: " + e.Message + " (/clear starts over)");
                }
                finally
                {
                    answering.Dispose();
                    answering = null;
                }
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}

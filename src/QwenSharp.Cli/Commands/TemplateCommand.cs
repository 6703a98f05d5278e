using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Chat;

namespace QwenSharp.Cli.Commands;

/// <summary>`qwen template render (MODEL | --template FILE) --messages FILE.json [--tools FILE.json]
/// [--no-generation-prompt] [--bos TEXT] [--eos TEXT] [--var NAME=JSON]...`: prints the prompt a chat template
/// makes of a conversation, and nothing else (no newline added), for debugging templates and for checks.</summary>
internal static class TemplateCommand
{
    public static Command Create(CliIO io)
    {
        var model = new Argument<string?>("model") { Description = "A .gguf file whose chat template to use (or `demo`)", Arity = ArgumentArity.ZeroOrOne };
        var template = new Option<string?>("--template") { Description = "A Jinja template file to use instead of a model's" };
        var messages = new Option<string>("--messages") { Description = "JSON array of OpenAI-style messages", Required = true };
        var tools = new Option<string?>("--tools") { Description = "JSON array of OpenAI-style tool definitions" };
        var noGeneration = new Option<bool>("--no-generation-prompt") { Description = "Do not open the assistant's turn (add_generation_prompt = false)" };
        var bos = new Option<string?>("--bos") { Description = "bos_token (default: the model's, else undefined)" };
        var eos = new Option<string?>("--eos") { Description = "eos_token (default: the model's, else undefined)" };
        var vars = new Option<string[]>("--var") { Description = "Extra template variable NAME=VALUE (VALUE as JSON, else a string), e.g. enable_thinking=false", AllowMultipleArgumentsPerToken = false };

        var render = new Command("render", "Print the prompt a chat template makes of a conversation") { model, template, messages, tools, noGeneration, bos, eos, vars };
        render.SetAction(r =>
        {
            string? modelPath = r.GetValue(model), templatePath = r.GetValue(template);
            if ((modelPath is null) == (templatePath is null))
                throw new QwenSharpException("template render: give either MODEL or --template FILE");
            ChatTemplate chatTemplate;
            string? modelBos = null, modelEos = null;
            if (templatePath is not null)
                chatTemplate = ChatTemplate.Parse(ReadFile(templatePath, "--template"));
            else
            {
                using var m = ModelLocator.Load(modelPath!, io);
                if (m.ChatTemplate is null) throw new QwenSharpException($"{modelPath}: the model has no chat template (qwen run uses ChatML for it)");
                chatTemplate = ChatTemplate.Parse(m.ChatTemplate);
                var formatter = ChatPromptFormatter.ForModel(m);
                (modelBos, modelEos) = (formatter.BosToken, formatter.EosToken);
            }
            var input = ChatTemplateInput.FromJson(ReadFile(r.GetValue(messages)!, "--messages"),
                r.GetValue(tools) is { } toolsPath ? ReadFile(toolsPath, "--tools") : null) with
            {
                AddGenerationPrompt = !r.GetValue(noGeneration),
                BosToken = r.GetValue(bos) ?? modelBos,
                EosToken = r.GetValue(eos) ?? modelEos,
                Variables = ParseVariables(r.GetValue(vars) ?? []),
            };
            io.Out.Write(chatTemplate.Render(input));
            io.Out.Flush();
            return 0;
        });
        return new Command("template", "Work with chat templates") { render };
    }

    private static string ReadFile(string path, string option)
    {
        if (!File.Exists(path)) throw new QwenSharpException($"{option}: {path}: file not found");
        return File.ReadAllText(path);
    }

    private static Dictionary<string, JsonNode?> ParseVariables(string[] assignments)
    {
        var result = new Dictionary<string, JsonNode?>();
        foreach (string a in assignments)
        {
            int eq = a.IndexOf('=');
            if (eq <= 0) throw new QwenSharpException($"--var: expected NAME=VALUE, got '{a}'");
            string value = a[(eq + 1)..];
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(value);
            }
            catch (JsonException)
            {
                node = JsonValue.Create(value);
            }
            result[a[..eq]] = node;
        }
        return result;
    }
}

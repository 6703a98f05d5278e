using System.Text.Json;
using System.Text.Json.Nodes;
using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

/// <summary>Every fixture template x conversation x add_generation_prompt, rendered by our engine, must equal
/// byte for byte what Python's jinja2 rendered in HuggingFace's environment (Fixtures/make_fixtures.py wrote
/// fixtures.json); where jinja2 refused (raise_exception, an undefined value used, a type error), we must refuse
/// too, and for raise_exception with the template's own message.</summary>
public class ChatTemplateFixtureTests
{
    private static readonly string FixtureDir = Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Chat", "Fixtures");

    private static readonly Lazy<JsonObject> Fixtures = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureDir, "fixtures.json")))!.AsObject());

    public static TheoryData<string> TemplateNames()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in Fixtures.Value["templates"]!.AsObject()) data.Add(name);
        return data;
    }

    internal static string TemplateSource(JsonObject spec)
    {
        if (spec["file"] is JsonNode file)
            return File.ReadAllText(Path.Combine(FixtureDir, file.GetValue<string>()));
        string config = Path.Combine(TestPaths.SharedTokenizerDir, "tokenizer_config.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(config));
        return doc.RootElement.GetProperty("chat_template").GetString()!;
    }

    [Fact]
    public void FixtureSetIsComplete()
    {
        var cases = Fixtures.Value["cases"]!.AsArray();
        Assert.True(Fixtures.Value["templates"]!.AsObject().Count >= 14);
        Assert.True(cases.Count >= 300, $"{cases.Count} cases");
        // Most cases render; the refusals are a minority (templates that reject a conversation's roles).
        Assert.True(cases.Count(c => c!["expected"] is not null) > cases.Count * 3 / 4);
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void RendersLikeJinja2(string templateName)
    {
        var root = Fixtures.Value;
        var spec = root["templates"]![templateName]!.AsObject();
        var template = ChatTemplate.Parse(TemplateSource(spec));
        var now = DateTime.Parse(root["now"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        var failures = new List<string>();
        int checkedCases = 0;
        foreach (JsonNode? node in root["cases"]!.AsArray())
        {
            var c = node!.AsObject();
            if (c["template"]!.GetValue<string>() != templateName) continue;
            checkedCases++;
            var conversation = root["conversations"]![c["conversation"]!.GetValue<string>()]!.AsObject();
            var variables = c["variables"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone());
            var input = new ChatTemplateInput
            {
                Messages = conversation["messages"]!.DeepClone().AsArray(),
                Tools = conversation["tools"]?.DeepClone().AsArray(),
                AddGenerationPrompt = c["add_generation_prompt"]!.GetValue<bool>(),
                BosToken = spec["bos_token"]?.GetValue<string>(),
                EosToken = spec["eos_token"]?.GetValue<string>(),
                Variables = variables,
                Now = now,
            };
            string label = $"{c["conversation"]} agp={c["add_generation_prompt"]} vars={c["variables"]!.ToJsonString()}";
            string? expected = c["expected"]?.GetValue<string>();
            try
            {
                string actual = template.Render(input);
                if (expected is null) failures.Add($"{label}: rendered, but jinja2 raised {c["error_type"]}: {c["error"]}");
                else if (actual != expected) failures.Add($"{label}: differs at {FirstDifference(expected, actual)}\n--- expected\n{expected}\n--- actual\n{actual}");
            }
            catch (ChatTemplateException e)
            {
                if (expected is not null) failures.Add($"{label}: threw {e.Message}");
                else if (c["error_type"]!.GetValue<string>() == "TemplateError" && e.Problem != c["error"]!.GetValue<string>())
                    failures.Add($"{label}: raise_exception message '{e.Problem}', jinja2 '{c["error"]}'");
            }
        }
        Assert.True(checkedCases > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {checkedCases} cases differ:\n" + string.Join("\n\n", failures));
    }

    private static string FirstDifference(string a, string b)
    {
        int i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        string Around(string s) => JsonSerializer.Serialize(s.Substring(Math.Max(0, i - 20), Math.Min(s.Length, i + 20) - Math.Max(0, i - 20)));
        return $"char {i}: expected ...{Around(a)}..., actual ...{Around(b)}...";
    }
}

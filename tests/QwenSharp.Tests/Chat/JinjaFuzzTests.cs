using System.Text.Json.Nodes;
using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

/// <summary>Seeded mutations of the fixture templates (spans deleted, duplicated, template syntax inserted):
/// every one must either render or fail with a ChatTemplateException, never with another exception or a hang.</summary>
public class JinjaFuzzTests
{
    private static readonly string[] Inserts =
    [
        "{%", "%}", "{{", "}}", "{#", "#}", "(", ")", "[", "]", "{", "}", "'", "\"", "|", "-", "+", "not ", " if ", " else ",
        "loop.", ".", ",", "*", "**", "//", "%", "~", " in ", " is ", "endfor", "endif", "\\", ":", "::-1", "=", "==",
        "{% for x in messages %}", "{% endfor %}", "{% if true %}", "{% endif %}", "{% set y = ", "namespace(", "|tojson",
        "|length", "[0]", "range(", "99999", "-1", "none", "\n", "  ", "{%-", "-%}", "{% macro m(a=1) %}", "{% endmacro %}", "m(",
    ];

    [Fact]
    public void MutatedTemplatesNeverCrash()
    {
        string fixtures = Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Chat", "Fixtures");
        var sources = Directory.GetFiles(Path.Combine(fixtures, "templates"), "*.jinja").Select(File.ReadAllText).ToList();
        foreach (JsonNode? c in JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "language_cases.json")))!.AsArray())
            sources.Add(c!["source"]!.GetValue<string>());
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "fixtures.json")))!;
        var conversation = root["conversations"]!["tools_multi"]!;
        var input = new ChatTemplateInput
        {
            Messages = conversation["messages"]!.DeepClone().AsArray(),
            Tools = conversation["tools"]!.DeepClone().AsArray(),
            BosToken = "<s>",
            EosToken = "</s>",
        };
        var limits = new ChatTemplateLimits { MaxSteps = 200_000, MaxOutputLength = 1 << 16 };
        var rng = new Random(20261126);
        int rendered = 0, refused = 0;
        for (int i = 0; i < 3000; i++)
        {
            string s = sources[rng.Next(sources.Count)];
            int mutations = 1 + rng.Next(3);
            for (int m = 0; m < mutations && s.Length > 0; m++)
            {
                int at = rng.Next(s.Length);
                int len = Math.Min(1 + rng.Next(6), s.Length - at);
                s = rng.Next(3) switch
                {
                    0 => s.Remove(at, len),
                    1 => s.Insert(at, s.Substring(at, len)),
                    _ => s.Insert(at, Inserts[rng.Next(Inserts.Length)]),
                };
            }
            try
            {
                ChatTemplate.Parse(s, limits).Render(input);
                rendered++;
            }
            catch (ChatTemplateException e)
            {
                Assert.True(e.Line >= 1 && e.Column >= 1);
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} threw {e.GetType().Name}: {e.Message}\n--- template\n{s}\n{e.StackTrace}");
            }
        }
        Assert.True(rendered > 100 && refused > 100, $"rendered {rendered}, refused {refused}");
    }
}

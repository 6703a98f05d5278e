using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

/// <summary>Bad templates fail with a ChatTemplateException naming the line and column; limits stop templates
/// that would run or grow without end.</summary>
public class ChatTemplateErrorTests
{
    private static ChatTemplateException ParseError(string source) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));

    private static ChatTemplateException RenderError(string source, ChatTemplateLimits? limits = null) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source, limits).Render(new ChatTemplateInput()));

    [Theory]
    [InlineData("Hello\n  {{ 1 + }}", 2, 10, "unexpected '}}'")]
    [InlineData("{% if x %}\nno end", 2, 7, "expected 'elif' or 'else' or 'endif'")]
    [InlineData("{% for x in y %}\n{% endif %}", 2, 4, "unexpected 'endif'")]
    [InlineData("ab {{ 'abc }}", 1, 7, "unterminated string")]
    [InlineData("{% foo %}", 1, 4, "unknown tag 'foo'")]
    [InlineData("{{ x", 1, 1, "not closed")]
    [InlineData("{# comment", 1, 1, "comment")]
    [InlineData("{% break %}", 1, 4, "outside of a loop")]
    [InlineData("{{ a b }}", 1, 6, "expected end of print statement")]
    [InlineData("{{ x | }}", 1, 8, "expected a name")]
    [InlineData("{% set = 1 %}", 1, 8, "expected a name")]
    [InlineData("line1\nline2 {{ 1 $ 2 }}", 2, 12, "unexpected character '$'")]
    public void SyntaxErrorsNameLineAndColumn(string source, int line, int column, string fragment)
    {
        var e = ParseError(source);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.Contains(fragment, e.Message);
        Assert.StartsWith($"chat template error at line {line}, column {column}: ", e.Message);
        Assert.IsAssignableFrom<QwenSharpException>(e);
    }

    [Theory]
    [InlineData("ok\n{{ x.y.z }}", 2, 5, "'x' is undefined")]
    [InlineData("{{ {}.a.b }}", 1, 8, "'dict object' has no attribute 'a'")]
    [InlineData("{{ 1 + 'a' }}", 1, 6, "unsupported operand")]
    [InlineData("{{ 'a' + 1 }}", 1, 8, "can only concatenate str")]
    [InlineData("{% for m in none %}{% endfor %}", 1, 13, "'NoneType' object is not iterable")]
    [InlineData("{{ 1 // 0 }}", 1, 6, "division")]
    [InlineData("{{ 'abc'.nope() }}", 1, 14, "no attribute 'nope'")]
    [InlineData("{{ [1].append(2) }}", 1, 14, "unsafe")]
    [InlineData("{{ x | nosuchfilter }}", 1, 8, "no filter named 'nosuchfilter'")]
    [InlineData("{{ 1 is nosuchtest }}", 1, 9, "no test named 'nosuchtest'")]
    [InlineData("{% set a, b = [1] %}", 1, 4, "not enough values to unpack")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", 1, 19, "non-namespace")]
    [InlineData("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", 1, 35, "takes not more than 1 argument")]
    [InlineData("{{ 'x' < 1 }}", 1, 4, "'<' not supported")]
    public void RuntimeErrorsNameLineAndColumn(string source, int line, int column, string fragment)
    {
        var e = RenderError(source);
        Assert.Contains(fragment, e.Message);
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var e = RenderError("{% if true %}\n  {{ raise_exception('Conversation roles must alternate') }}{% endif %}");
        Assert.Equal("Conversation roles must alternate", e.Problem);
        Assert.Equal(2, e.Line);
        Assert.Equal(21, e.Column);
    }

    [Fact]
    public void NestedLoopsStopAtTheStepLimit()
    {
        var e = RenderError("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        Assert.Contains("steps", e.Message);
        var small = RenderError("{% for i in range(1000) %}{{ i }}{% endfor %}", new ChatTemplateLimits { MaxSteps = 500 });
        Assert.Contains("limit of 500 steps", small.Message);
    }

    [Fact]
    public void OutputStopsAtTheLengthLimit()
    {
        var e = RenderError("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}");
        Assert.Contains("rendered output is longer than the limit of 1048576", e.Message);
        var small = RenderError("{% for i in range(10) %}abcdefghij{% endfor %}", new ChatTemplateLimits { MaxOutputLength = 50 });
        Assert.Contains("limit of 50", small.Message);
        Assert.Equal(new string('a', 50), ChatTemplate.Parse("{{ 'a' * 50 }}", new ChatTemplateLimits { MaxOutputLength = 50 }).Render(new ChatTemplateInput()));
    }

    [Fact]
    public void ValuesCannotGrowWithoutBound()
    {
        Assert.Contains("value too large", RenderError("{% set s = 'x' * 100000000000 %}").Message);
        Assert.Contains("value too large", RenderError("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}").Message);
        Assert.Contains("value too large", RenderError("{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}").Message);
        Assert.Contains("range too big", RenderError("{% for i in range(1000000000) %}{% endfor %}").Message);
    }

    [Fact]
    public void RecursionStopsAtTheCallDepthLimit()
    {
        var e = RenderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        Assert.Contains("macro calls nested deeper than the limit of 100", e.Message);
        Assert.Equal("3", ChatTemplate.Parse("{% macro f(n) %}{% if n < 3 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}{{ f(0) }}").Render(new ChatTemplateInput()));
    }

    [Fact]
    public void DeepNestingIsASyntaxErrorNotAStackOverflow()
    {
        Assert.Contains("nested too deeply", ParseError("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}").Message);
        Assert.Contains("nested too deeply", ParseError("{{ " + string.Concat(Enumerable.Repeat("1 + ", 5000)) + "1 }}").Message);
        Assert.Contains("nested too deeply", ParseError("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}").Message);
        Assert.Contains("nested too deeply", ParseError(string.Concat(Enumerable.Repeat("{% if true %}", 5000))).Message);
        Assert.Equal("3", ChatTemplate.Parse("{{ " + string.Concat(Enumerable.Repeat("1 + ", 50)) + "1 - 48 }}").Render(new ChatTemplateInput()));
    }
}

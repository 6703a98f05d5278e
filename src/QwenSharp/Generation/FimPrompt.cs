using QwenSharp.Tokenization;

namespace QwenSharp.Generation;

/// <summary>Fill-in-the-middle prompts for code models (CodeQwen1.5): &lt;fim_prefix&gt;P&lt;fim_suffix&gt;S&lt;fim_middle&gt;,
/// after which the model writes the middle. The code itself is encoded with special-token parsing off, so code that
/// happens to contain "&lt;fim_suffix&gt;" cannot inject structure.</summary>
public static class FimPrompt
{
    public const string PrefixToken = "<fim_prefix>", SuffixToken = "<fim_suffix>", MiddleToken = "<fim_middle>";

    public static int[] Build(QwenTokenizer tokenizer, string prefix, string suffix)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(suffix);
        var ids = new List<int> { Id(tokenizer, PrefixToken) };
        tokenizer.Encode(prefix, ids, parseSpecial: false);
        ids.Add(Id(tokenizer, SuffixToken));
        tokenizer.Encode(suffix, ids, parseSpecial: false);
        ids.Add(Id(tokenizer, MiddleToken));
        return [.. ids];
    }

    private static int Id(QwenTokenizer tokenizer, string token) =>
        tokenizer.TryGetTokenId(token, out int id) ? id
            : throw new QwenSharpException($"this model's vocabulary has no {token} token: fill-in-the-middle needs a code model such as CodeQwen1.5");
}

using QwenSharp.Formats;
using QwenSharp.Tokenization;

namespace QwenSharp.Models;

/// <summary>The token ids generation cares about. Qwen chat models end a turn with &lt;|im_end|&gt; while base models
/// end with &lt;|endoftext|&gt;, and published files disagree on which one is "eos", so generation stops on all of them.</summary>
public sealed record SpecialTokens(int? Bos, int? Eos, int? Pad, int? ImStart, int? ImEnd, int? EndOfText, int[] StopTokens)
{
    public static SpecialTokens FromGguf(GgufFile file, QwenTokenizer tokenizer)
    {
        int? Id(string key) => file.TryGetInteger(key, out long v) && v >= 0 && v < tokenizer.VocabSize ? (int)v : null;
        int? Named(string text) => tokenizer.TryGetTokenId(text, out int id) ? id : null;

        int? eos = Id("tokenizer.ggml.eos_token_id");
        int? imEnd = Named("<|im_end|>"), endOfText = Named("<|endoftext|>");
        var stops = new SortedSet<int>();
        foreach (int? id in new[] { eos, imEnd, endOfText }) if (id is int i) stops.Add(i);
        return new SpecialTokens(Id("tokenizer.ggml.bos_token_id"), eos, Id("tokenizer.ggml.padding_token_id"),
            Named("<|im_start|>"), imEnd, endOfText, [.. stops]);
    }

    public bool IsStop(int token) => Array.IndexOf(StopTokens, token) >= 0;
}

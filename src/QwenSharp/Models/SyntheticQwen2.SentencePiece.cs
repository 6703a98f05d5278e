using QwenSharp.Formats;

namespace QwenSharp.Models;

public static partial class SyntheticQwen2
{
    /// <summary>tokenizer.ggml.* for a SentencePiece-style vocabulary, as llama.cpp's converter writes CodeQwen1.5's:
    /// model "llama", pieces, scores, token types, add_space_prefix; padding rows score 0.</summary>
    private static void AddSentencePieceVocabulary(GgufWriter w, SyntheticVocabulary vocab, string[] tokens, int[] types, float[] scores, int rows)
    {
        if (scores.Length != vocab.Tokens.Length)
            throw new QwenSharpException($"{scores.Length} scores for {vocab.Tokens.Length} tokens");
        var padded = new float[rows];
        scores.CopyTo(padded, 0);
        w.Add("tokenizer.ggml.model", "llama");
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.scores", GgufArray.Of(padded));
        w.AddArray("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.add_space_prefix", vocab.AddSpacePrefix);
    }
}

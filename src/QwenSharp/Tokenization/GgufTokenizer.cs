using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>Builds the tokenizer from a GGUF file's tokenizer.ggml.* metadata.</summary>
public static class GgufTokenizer
{
    public static QwenTokenizer Load(GgufFile file)
    {
        string model = file.GetString("tokenizer.ggml.model");
        if (model == "llama") return LoadSentencePiece(file);   // CodeQwen1.5
        if (model != "gpt2")
            throw new ModelFileException(file.FilePath,
                $"tokenizer.ggml.model = '{model}' is not supported (QwenSharp reads byte-level BPE 'gpt2' and SentencePiece 'llama')");
        // tokenizer.ggml.pre may be missing (older conversions, Ollama's qwen:110b) or say "qwen2": both get the
        // Qwen2 pre-tokenizer, the only one a qwen2 architecture uses.
        string[] tokens = file.GetStringArray("tokenizer.ggml.tokens");
        string[] merges = file.TryGet("tokenizer.ggml.merges", out _) ? file.GetStringArray("tokenizer.ggml.merges") : [];
        int[]? types = TokenTypes(file, tokens.Length);
        try
        {
            return QwenTokenizer.FromVocabulary(tokens, types, merges);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(file.FilePath, e.Message, e);
        }
    }

    private static int[]? TokenTypes(GgufFile file, int tokenCount)
    {
        if (!file.TryGet("tokenizer.ggml.token_type", out _)) return null;
        long[] raw = file.GetIntegerArray("tokenizer.ggml.token_type");
        if (raw.Length != tokenCount)
            throw new ModelFileException(file.FilePath,
                $"tokenizer.ggml.token_type has {raw.Length} entries but tokenizer.ggml.tokens has {tokenCount}");
        return Array.ConvertAll(raw, t => (int)t);
    }

    /// <summary>tokenizer.ggml.model = "llama": pieces, scores, token types; add_space_prefix defaults to true, as in
    /// llama.cpp for this model kind.</summary>
    private static QwenTokenizer LoadSentencePiece(GgufFile file)
    {
        string[] tokens = file.GetStringArray("tokenizer.ggml.tokens");
        float[] scores = file.GetFloatArray("tokenizer.ggml.scores");
        if (scores.Length != tokens.Length)
            throw new ModelFileException(file.FilePath, $"tokenizer.ggml.scores has {scores.Length} entries but tokenizer.ggml.tokens has {tokens.Length}");
        bool addSpacePrefix = !file.TryGetBool("tokenizer.ggml.add_space_prefix", out bool prefix) || prefix;
        try
        {
            return QwenTokenizer.FromSentencePiece(tokens, scores, TokenTypes(file, tokens.Length), addSpacePrefix);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(file.FilePath, e.Message, e);
        }
    }
}

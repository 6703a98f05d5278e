using QwenSharp.Formats;

namespace QwenSharp.Tokenization;

/// <summary>Builds the tokenizer from a GGUF file's tokenizer.ggml.* metadata.</summary>
public static class GgufTokenizer
{
    public static QwenTokenizer Load(GgufFile file)
    {
        string model = file.GetString("tokenizer.ggml.model");
        if (model != "gpt2")
            throw new ModelFileException(file.FilePath,
                $"tokenizer.ggml.model = '{model}' is not supported yet (QwenSharp reads byte-level BPE, 'gpt2')");
        // tokenizer.ggml.pre may be missing (older conversions, Ollama's qwen:110b) or say "qwen2": both get the
        // Qwen2 pre-tokenizer, the only one a qwen2 architecture uses.
        string[] tokens = file.GetStringArray("tokenizer.ggml.tokens");
        string[] merges = file.TryGet("tokenizer.ggml.merges", out _) ? file.GetStringArray("tokenizer.ggml.merges") : [];
        int[]? types = null;
        if (file.TryGet("tokenizer.ggml.token_type", out _))
        {
            long[] raw = file.GetIntegerArray("tokenizer.ggml.token_type");
            if (raw.Length != tokens.Length)
                throw new ModelFileException(file.FilePath,
                    $"tokenizer.ggml.token_type has {raw.Length} entries but tokenizer.ggml.tokens has {tokens.Length}");
            types = Array.ConvertAll(raw, t => (int)t);
        }
        try
        {
            return QwenTokenizer.FromVocabulary(tokens, types, merges);
        }
        catch (QwenSharpException e) when (e is not ModelFileException)
        {
            throw new ModelFileException(file.FilePath, e.Message, e);
        }
    }
}

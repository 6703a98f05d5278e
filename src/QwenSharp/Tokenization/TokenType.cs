namespace QwenSharp.Tokenization;

/// <summary>Token kinds, numbered as GGUF's tokenizer.ggml.token_type (llama.cpp's llama_token_type).</summary>
internal static class TokenType
{
    public const int Undefined = 0;
    public const int Normal = 1;
    public const int Unknown = 2;
    /// <summary>Special tokens such as &lt;|im_end|&gt;: found in text only when special-token parsing is on.</summary>
    public const int Control = 3;
    /// <summary>Added tokens that are not special (&lt;think&gt; in later Qwen vocabularies): always found in text.</summary>
    public const int UserDefined = 4;
    public const int Unused = 5;
    public const int Byte = 6;

    public static bool IsAdded(int type) => type is Control or UserDefined;
}

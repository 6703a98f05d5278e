using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Tokenization;

/// <summary>Loads the real Qwen vocabulary once for all tokenizer tests: ours, and HuggingFace tokenizers (Rust, via
/// Tokenizers.DotNet) as the oracle whose ids ours must equal. Also the parity corpus.</summary>
public sealed class TokenizerFixture : IDisposable
{
    public TokenizerFixture()
    {
        Ours = QwenTokenizer.FromHuggingFaceJson(TestPaths.SharedTokenizerJson);
        Oracle = new Tokenizers.DotNet.Tokenizer(TestPaths.SharedTokenizerJson);
        CorpusText = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "QwenSharp.Tests", "Tokenization", "corpus.txt"));
        CorpusLines = CorpusText.Split('\n');
    }

    public QwenTokenizer Ours { get; }

    public Tokenizers.DotNet.Tokenizer Oracle { get; }

    /// <summary>The corpus as one text (lines joined by '\n'; some lines end in '\r' or contain control characters).</summary>
    public string CorpusText { get; }

    public string[] CorpusLines { get; }

    /// <summary>HF tokenizers' ids (special tokens in the text are parsed; Qwen's post-processor adds nothing).</summary>
    public int[] OracleIds(string text) => Array.ConvertAll(Oracle.Encode(text), id => (int)id);

    /// <summary>HF tokenizers' decoding. It skips special tokens, so compare only texts without them.</summary>
    public string OracleDecode(IEnumerable<int> ids) => Oracle.Decode(ids.Select(id => (uint)id).ToArray());

    public void Dispose() => Oracle.Dispose();
}

[CollectionDefinition(Name)]
public sealed class TokenizerCollection : ICollectionFixture<TokenizerFixture>
{
    public const string Name = "Tokenizer";
}

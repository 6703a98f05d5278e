using QwenSharp.Generation;
using QwenSharp.Tokenization;

namespace QwenSharp.Models;

/// <summary>Everything in a HuggingFace Qwen folder except the weights: config.json, the tokenizer files,
/// tokenizer_config.json (chat template, eos / pad / bos names) and generation_config.json.</summary>
public sealed record HuggingFaceFolder
{
    public required string DirectoryPath { get; init; }
    public required HuggingFaceConfig Config { get; init; }
    public required QwenTokenizer Tokenizer { get; init; }
    public string? ChatTemplate { get; init; }
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? PadId { get; init; }
    public GenerationDefaults? Generation { get; init; }

    public string Name => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(DirectoryPath)));

    public static bool IsModelFolder(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, "config.json"));

    public static HuggingFaceFolder Read(string dir)
    {
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new ModelFileException(dir, "no config.json: not a HuggingFace model folder");
        var config = HuggingFaceConfig.Read(configPath);
        var tokenizer = HuggingFaceTokenizerFiles.FromFolder(dir);

        string tokenizerConfigPath = Path.Combine(dir, "tokenizer_config.json");
        var tc = File.Exists(tokenizerConfigPath) ? HuggingFaceTokenizerFiles.ReadConfig(tokenizerConfigPath) : null;
        string generationPath = Path.Combine(dir, "generation_config.json");
        var generation = File.Exists(generationPath) ? GenerationDefaults.Read(generationPath) : null;

        int? Named(string? text) => text != null && tokenizer.TryGetTokenId(text, out int id) ? id : null;
        int? InVocab(int? id) => id is int i && i < tokenizer.VocabSize ? i : null;
        int[] configEos = config.EosTokenIds.Where(i => i < tokenizer.VocabSize).ToArray();
        int? eos = Named(tc?.EosToken) ?? (configEos.Length > 0 ? configEos[0] : null);
        return new HuggingFaceFolder
        {
            DirectoryPath = dir,
            Config = config,
            Tokenizer = tokenizer,
            ChatTemplate = tc?.ChatTemplate,
            // Qwen's tokenizer_config has bos_token null; config.json's bos_token_id (151643) is what llama.cpp's
            // converter writes as tokenizer.ggml.bos_token_id.
            BosId = Named(tc?.BosToken) ?? InVocab(config.BosTokenId),
            EosId = eos,
            PadId = Named(tc?.PadToken),
            Generation = generation,
        };
    }

    /// <summary>Stops on eos, every eos the generation config lists, and Qwen's turn / text ends.</summary>
    public SpecialTokens SpecialTokens()
    {
        int? Named(string text) => Tokenizer.TryGetTokenId(text, out int id) ? id : null;
        int? imEnd = Named("<|im_end|>"), endOfText = Named("<|endoftext|>");
        var stops = new SortedSet<int>();
        foreach (int? id in new[] { EosId, imEnd, endOfText }) if (id is int i) stops.Add(i);
        foreach (int id in Generation?.EosTokenIds ?? []) if (id < Tokenizer.VocabSize) stops.Add(id);
        foreach (int id in Config.EosTokenIds) if (id < Tokenizer.VocabSize) stops.Add(id);
        return new SpecialTokens(BosId, EosId, PadId, Named("<|im_start|>"), imEnd, endOfText, [.. stops]);
    }

    /// <summary>The GGUF names a dense Qwen2 model of this config has (output.weight only when untied).</summary>
    public static IEnumerable<string> DenseTensorNames(Qwen2Config c, bool withOutput)
    {
        yield return "token_embd.weight";
        yield return "output_norm.weight";
        if (withOutput) yield return "output.weight";
        for (int i = 0; i < c.LayerCount; i++)
            foreach (string s in new[] { "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q.bias", "attn_k.bias",
                         "attn_v.bias", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight" })
                yield return $"blk.{i}.{s}";
    }
}

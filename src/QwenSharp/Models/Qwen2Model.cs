using QwenSharp.Formats;
using QwenSharp.Tokenization;

namespace QwenSharp.Models;

/// <summary>A loaded Qwen2 dense model: the memory-mapped GGUF, its config, bound weights and tokenizer.
/// Immutable and shareable; all per-conversation state (KV cache, buffers, threads) lives in a
/// <see cref="Qwen2Context"/>, whose forward pass is written out in Qwen2Forward.cs.</summary>
public sealed partial class Qwen2Model : IDisposable
{
    /// <summary>The GGUF file, or null for a model loaded from a HuggingFace folder (see <see cref="Source"/>).</summary>
    public GgufFile? File { get; }
    public Qwen2Config Config { get; }
    public Qwen2Weights Weights { get; }
    public QwenTokenizer Tokenizer { get; }
    public SpecialTokens Special { get; }

    /// <summary>The file's chat template (tokenizer.chat_template), when it has one.</summary>
    public string? ChatTemplate { get; }

    /// <summary>general.name, or the file name.</summary>
    public string Name { get; }

    private Qwen2Model(GgufFile file, ITensorSource source, long? availableMemoryBytes, bool repack, int decodeThreads)
    {
        File = file;
        Source = source;
        Config = Qwen2Config.FromGguf(file);
        long weightBytes = MemoryPlan.ForFile(file, Config, 1, KvCacheType.F16).WeightBytes;
        AvailableMemory.Require(weightBytes, $"the weights of {Path.GetFileName(file.FilePath)}",
            "Use a smaller quantization (e.g. Q4_K_M) or a smaller model, or free memory.", availableMemoryBytes);
        Weights = Qwen2Weights.Bind(source, Config, repack);
        Tokenizer = GgufTokenizer.Load(file);
        if (Tokenizer.VocabSize > Config.VocabSize)
            throw new ModelFileException(file.FilePath,
                $"tokenizer has {Tokenizer.VocabSize} tokens but token_embd.weight has only {Config.VocabSize} rows");
        Special = SpecialTokens.FromGguf(file, Tokenizer);
        ChatTemplate = file.TryGetString("tokenizer.chat_template", out string? template) ? template : null;
        Name = file.TryGetString("general.name", out string? name) && !string.IsNullOrWhiteSpace(name)
            ? name : Path.GetFileNameWithoutExtension(file.FilePath);
        // last, once nothing else can fail: the regions are this model's to free
        if (repack && DecodeLayout.Applies(Config, source, decodeThreads))
            Weights = DecodeLayout.Apply(Weights, Config, source, decodeThreads, out _layout);
    }

    /// <summary>Loads a GGUF file or a HuggingFace folder (config.json + safetensors + tokenizer files). A GGUF
    /// model fails before binding anything when its weights need more than <see cref="ModelLoadOptions.AvailableMemoryBytes"/>
    /// (null: the memory available now, see <see cref="AvailableMemory"/>).</summary>
    public static Qwen2Model Load(string path, ModelLoadOptions? options = null)
    {
        options ??= ModelLoadOptions.Default;
        if (Directory.Exists(path)) return LoadFolder(path, options);
        if (!System.IO.File.Exists(path)) throw new QwenSharpException($"{path}: model file not found");
        var file = GgufFile.Open(path, copyOnWrite: options.RepackWeights);
        ITensorSource source = file;
        try
        {
            if (options.Quantize is { } type) source = new QuantizingTensorSource(file, type);
            int decodeThreads = options.DecodeThreads > 0 ? options.DecodeThreads : Tensors.ComputePool.DefaultThreadCount;
            return new Qwen2Model(file, source, options.AvailableMemoryBytes, options.RepackWeights, decodeThreads);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>The per-thread regions the weights were moved into at load, or null (<see cref="DecodeLayout"/>).</summary>
    private readonly DecodeLayout? _layout;

    public void Dispose()
    {
        Source.Dispose();
        _layout?.Dispose();
    }
}

using QwenSharp.Formats;
using QwenSharp.Generation;

namespace QwenSharp.Models;

/// <summary>Loading from a HuggingFace folder (config.json, safetensors, tokenizer files) instead of a GGUF file.</summary>
public sealed partial class Qwen2Model
{
    /// <summary>The weights' source: the GGUF file, a safetensors folder, or either after load-time quantization.
    /// Lists every tensor under its GGUF name, whatever the format.</summary>
    public ITensorSource Source { get; }

    /// <summary>generation_config.json's sampling (folders only; null for GGUF files).</summary>
    public GenerationDefaults? GenerationDefaults { get; }

    /// <summary>The model's default sampling when the user sets none: its generation config's, or null.</summary>
    public SamplingOptions? DefaultSampling => GenerationDefaults?.ToSamplingOptions();

    private Qwen2Model(HuggingFaceFolder folder, ITensorSource source)
    {
        File = null;
        Source = source;
        Config = folder.Config.Config;
        if (folder.Config.Moe != null)
            throw new ModelFileException(folder.DirectoryPath, "Qwen2MoeForCausalLM (Qwen1.5-MoE) is not supported yet");
        CheckTensorSet(source, Config);
        Weights = Qwen2Weights.Bind(source, Config);
        Tokenizer = folder.Tokenizer;
        if (Tokenizer.VocabSize > Config.VocabSize)
            throw new ModelFileException(folder.DirectoryPath,
                $"the tokenizer has {Tokenizer.VocabSize} tokens but config.json's vocab_size is only {Config.VocabSize}");
        Special = folder.SpecialTokens();
        ChatTemplate = folder.ChatTemplate;
        Name = folder.Name;
        GenerationDefaults = folder.Generation;
    }

    /// <summary>No tensor beyond those a dense Qwen2 of this config has (a missing one is named by Bind).</summary>
    private static void CheckTensorSet(ITensorSource source, Qwen2Config c)
    {
        var expected = HuggingFaceFolder.DenseTensorNames(c, withOutput: true).ToHashSet(StringComparer.Ordinal);
        foreach (var t in source.Tensors)
            if (!expected.Contains(t.Name))
                throw new ModelFileException(source.FilePath,
                    $"tensor {HfTensorNames.ToHf(t.Name) ?? t.Name} does not belong to a {c.LayerCount}-layer Qwen2 model (extra tensor)");
    }

    private static Qwen2Model LoadFolder(string dir, ModelLoadOptions options)
    {
        var folder = HuggingFaceFolder.Read(dir);
        if (folder.Config.Moe != null)
            throw new ModelFileException(dir, "Qwen2MoeForCausalLM (Qwen1.5-MoE) folders cannot be run yet; `qwen convert` turns them into qwen2moe GGUF files");
        ITensorSource source = HfTensorSource.Open(dir);
        try
        {
            if (options.Quantize is { } type) source = new QuantizingTensorSource(source, type);
            return new Qwen2Model(folder, source);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }
}

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

    private Qwen2Model(HuggingFaceFolder folder, ITensorSource source, bool repack)
    {
        File = null;
        Source = source;
        Config = folder.Config.Config;
        CheckTensorSet(source, Config);
        Weights = Qwen2Weights.Bind(source, Config, repack);
        Tokenizer = folder.Tokenizer;
        if (Tokenizer.VocabSize > Config.VocabSize)
            throw new ModelFileException(folder.DirectoryPath,
                $"the tokenizer has {Tokenizer.VocabSize} tokens but config.json's vocab_size is only {Config.VocabSize}");
        Special = folder.SpecialTokens();
        ChatTemplate = folder.ChatTemplate;
        Name = folder.Name;
        GenerationDefaults = folder.Generation;
    }

    /// <summary>No tensor beyond those a Qwen2 (or Qwen2-MoE, experts unstacked) of this config has (a missing one is
    /// named by Bind).</summary>
    private static void CheckTensorSet(ITensorSource source, Qwen2Config c)
    {
        var expected = (c.Moe != null ? HfMoeTensorNames.All(c, withOutput: true) : HuggingFaceFolder.DenseTensorNames(c, withOutput: true))
            .ToHashSet(StringComparer.Ordinal);
        foreach (var t in source.Tensors)
            if (!expected.Contains(t.Name))
                throw new ModelFileException(source.FilePath,
                    $"tensor {HfTensorNames.ToHf(t.Name) ?? t.Name} does not belong to a {c.LayerCount}-layer{(c.Moe != null ? $", {c.Moe.ExpertCount}-expert Qwen2-MoE" : " Qwen2")} model (extra tensor)");
    }

    private static Qwen2Model LoadFolder(string dir, ModelLoadOptions options)
    {
        var folder = HuggingFaceFolder.Read(dir);
        if (folder.Config.Moe is { DecoderSparseStep: not 1 } moe)
            throw new ModelFileException(dir, $"decoder_sparse_step {moe.DecoderSparseStep}: only MoE in every layer (1) is supported");
        ITensorSource source = HfTensorSource.Open(dir);
        try
        {
            // Weights must fit before anything is bound or quantized: the shards as stored (memory-mapped), or the
            // quantized copies (the float shards are only streamed through once).
            long weightBytes = options.Quantize is { } target ? QuantizingTensorSource.PlannedBytes(source, target) : source.Tensors.Sum(t => t.ByteSize);
            AvailableMemory.Require(weightBytes, $"the weights of {folder.Name}",
                "Use --quantize (q8_0, q4_k), a quantized GGUF or a smaller model, or free memory.", options.AvailableMemoryBytes);
            if (options.Quantize is { } type) source = new QuantizingTensorSource(source, type);
            return new Qwen2Model(folder, source, options.RepackWeights);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }
}

using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tests.Oracle;

namespace QwenSharp.Bench;

/// <summary>The benchmark's model files: the Qwen1.5-0.5B shape with seeded random weights, written once as F32
/// by QwenSharp's synthetic-model writer and quantized per type by llama.cpp's quantizer, cached in a folder so
/// later runs start at once. Speed does not depend on the weights' values, only on their shapes and types.</summary>
internal sealed class BenchModels(string directory, TextWriter log, BenchShape shape)
{
    private string Stem => shape.Stem;

    public string SourcePath => Path.Combine(directory, $"{Stem}-f32.gguf");

    public string PathOf(BenchType type) => Path.Combine(directory, $"{Stem}-{type.Name}.gguf");

    /// <summary>Makes whatever files are missing; returns the path per type.</summary>
    public IReadOnlyDictionary<BenchType, string> Ensure(IReadOnlyList<BenchType> types, int threads, bool keepSource)
    {
        Directory.CreateDirectory(directory);
        var paths = new Dictionary<BenchType, string>();
        bool madeSource = false;
        foreach (var type in types)
        {
            string path = PathOf(type);
            paths[type] = path;
            if (File.Exists(path)) continue;
            if (shape.Spec.Moe != null && Quantize.CanQuantize(type.Ggml))
            {
                // MoE: written at the type directly (the F32 source would be ~7 GB and llama.cpp's quantizer slow on it).
                log.WriteLine($"writing the {type.Name} model at {path}");
                SyntheticQwen2.Write(path, shape.Spec with { WeightType = type.Ggml }, SyntheticVocabulary.ByteLevel());
                continue;
            }
            if (!File.Exists(SourcePath))
            {
                log.WriteLine($"making the F32 source model (~1.9 GB) at {SourcePath}");
                SyntheticQwen2.Write(SourcePath, shape.Spec with { WeightType = GgmlType.F32 }, SyntheticVocabulary.ByteLevel());
                madeSource = true;
            }
            if (path == SourcePath) continue;
            log.WriteLine($"quantizing to {type.Name} with llama.cpp: {path}");
            string partial = path + ".partial";
            LlamaCppNative.Quantize(SourcePath, partial, type.Ftype, pure: false, threads);
            File.Move(partial, path, overwrite: true);
        }
        // The F32 source is only a stepping stone (~1.9 GB): drop it unless it is itself benchmarked or kept.
        bool sourceWanted = types.Any(t => PathOf(t) == SourcePath);
        if (madeSource && !sourceWanted && !keepSource) File.Delete(SourcePath);
        return paths;
    }
}

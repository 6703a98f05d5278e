using System.Diagnostics;
using QwenSharp.Models;
using QwenSharp.Tensors;
using QwenSharp.Tokenization;

namespace QwenSharp.Formats;

/// <summary>Converts a HuggingFace Qwen2 or Qwen2-MoE folder into a GGUF file with the metadata keys, tensor names,
/// tensor types and tokenizer metadata llama.cpp's convert_hf_to_gguf.py writes for qwen2 / qwen2moe
/// (../shared/specs/QWEN15.md §5), quantized as
/// llama-quantize would for the K / legacy quant types (<see cref="GgufTensorTypeRules"/>). Tensors stream from the
/// memory-mapped shards to the output one at a time; nothing model-sized is held in memory.</summary>
public static class HfToGguf
{
    public sealed record Result(int TensorCount, long Bytes, IReadOnlyDictionary<string, GgmlType> Types);

    /// <param name="progress">Told about each tensor as it is written (one line each), or null.</param>
    public static Result Convert(string dir, string outPath, GgufOutputType output, Action<string>? progress = null)
    {
        var folder = HuggingFaceFolder.Read(dir);
        var c = folder.Config.Config;
        using var tensors = SafetensorsFolder.Open(dir);
        var plan = HfTensorPlan.Build(tensors, folder.Config);
        bool hasOutput = plan.Any(t => t.Name == "output.weight");

        var w = new GgufWriter();
        WriteMetadata(w, folder, output, dir);
        var types = new Dictionary<string, GgmlType>(StringComparer.Ordinal);
        var ordered = plan.OrderBy(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) ? 1 : t.Name == "token_embd.weight" ? 0 : 2)
            .ThenBy(t => LayerOf(t.Name)).ToList();
        int index = 0;
        var clock = Stopwatch.StartNew();
        foreach (var t in ordered)
        {
            var type = GgufTensorTypeRules.Choose(output, t.Name, t.Dims, c.LayerCount, hasOutput);
            types[t.Name] = type;
            long rowLength = t.Dims[0], rows = t.ElementCount / rowLength;
            long bytes = GgmlTypeInfo.RowBytes(type, rowLength) * rows;
            int number = ++index;
            w.AddTensor(t.Name, type, t.Dims, bytes, stream =>
            {
                progress?.Invoke($"[{number,4}/{ordered.Count}] {t.Name,-28} {GgmlTypeInfo.Name(t.SourceType),-5} -> {GgmlTypeInfo.Name(type),-5} [{string.Join(", ", t.Dims)}]  {clock.Elapsed.TotalSeconds:F1} s");
                foreach (var (info, shard) in t.Parts) WriteTensor(shard, info, t.SourceType, (int)rowLength, type, stream);
            });
        }
        w.Write(outPath);
        progress?.Invoke($"wrote {outPath} ({new FileInfo(outPath).Length / 1048576.0:F1} MiB, {ordered.Count} tensors) in {clock.Elapsed.TotalSeconds:F1} s");
        return new Result(ordered.Count, new FileInfo(outPath).Length, types);
    }

    private static int LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int dot = name.IndexOf('.', 4);
        return int.Parse(name.AsSpan(4, dot - 4));
    }

    private static void WriteMetadata(GgufWriter w, HuggingFaceFolder folder, GgufOutputType output, string dir)
    {
        var c = folder.Config.Config;
        string a = c.Architecture;   // qwen2 or qwen2moe
        w.Add("general.architecture", a);
        w.Add("general.type", "model");
        w.Add("general.name", folder.Name);
        w.Add($"{a}.block_count", (uint)c.LayerCount);
        w.Add($"{a}.context_length", (uint)c.ContextLength);
        w.Add($"{a}.embedding_length", (uint)c.HiddenSize);
        w.Add($"{a}.feed_forward_length", (uint)c.FeedForwardSize);
        w.Add($"{a}.attention.head_count", (uint)c.HeadCount);
        w.Add($"{a}.attention.head_count_kv", (uint)c.KvHeadCount);
        w.Add($"{a}.rope.freq_base", c.RopeFreqBase);
        w.Add($"{a}.attention.layer_norm_rms_epsilon", c.RmsNormEps);
        if (folder.Config.Moe is { } moe)
        {
            w.Add($"{a}.expert_count", (uint)moe.ExpertCount);
            w.Add($"{a}.expert_used_count", (uint)moe.ExpertsPerToken);
            w.Add($"{a}.expert_feed_forward_length", (uint)moe.ExpertFeedForwardSize);
            w.Add($"{a}.expert_shared_feed_forward_length", (uint)moe.SharedExpertFeedForwardSize);
        }
        w.Add("general.file_type", GgufOutputTypes.FileType(output));
        w.Add("general.quantization_version", 2u);

        // Vocabulary padded to the embedding's rows: ids nobody names become "[PAD{i}]", unused (type 5), as the
        // converter writes them.
        var tok = folder.Tokenizer;
        var tokens = new string[c.VocabSize];
        var tokenTypes = new int[c.VocabSize];
        for (int i = 0; i < tokens.Length; i++)
        {
            string text = i < tok.VocabSize ? tok.TokenText(i) : "";
            bool hole = text.Length == 0;
            tokens[i] = hole ? $"[PAD{i}]" : text;
            tokenTypes[i] = hole ? TokenType.Unused : tok.TokenTypeOf(i);
        }
        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", "qwen2");
        w.AddArray("tokenizer.ggml.tokens", tokens);
        w.AddArray("tokenizer.ggml.token_type", tokenTypes);
        w.AddArray("tokenizer.ggml.merges", HuggingFaceTokenizerFiles.ReadMergeList(dir));
        if (folder.EosId is int eos) w.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        if (folder.PadId is int pad) w.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        if (folder.BosId is int bos) w.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        // Qwen's tokenizer_config.json says add_bos_token false; the converter copies that flag.
        w.Add("tokenizer.ggml.add_bos_token", false);
        if (folder.ChatTemplate != null) w.Add("tokenizer.chat_template", folder.ChatTemplate);
    }

    /// <summary>Same type: the bytes as they are. Otherwise rows to float and into the new type, a slab of rows at a
    /// time quantized in parallel.</summary>
    private static unsafe void WriteTensor(SafetensorsFile shard, SafetensorsTensorInfo info, GgmlType sourceType, int cols, GgmlType type, Stream stream)
    {
        byte* src = shard.GetData(info);
        if (type == sourceType)
        {
            for (long done = 0; done < info.ByteSize;)
            {
                int chunk = (int)Math.Min(1 << 24, info.ByteSize - done);
                stream.Write(new ReadOnlySpan<byte>(src + done, chunk));
                done += chunk;
            }
            return;
        }
        long rows = info.ElementCount / cols;
        long srcRow = GgmlTypeInfo.RowBytes(sourceType, cols), dstRow = GgmlTypeInfo.RowBytes(type, cols);
        int slab = (int)Math.Max(1, Math.Min(rows, (8 << 20) / dstRow));
        var buffer = new byte[slab * dstRow];
        for (long first = 0; first < rows; first += slab)
        {
            int count = (int)Math.Min(slab, rows - first);
            long start = first;
            Parallel.For(0, count, () => new float[cols], (r, _, values) =>
            {
                Dequantize.Row(sourceType, new ReadOnlySpan<byte>(src + (start + r) * srcRow, (int)srcRow), values);
                RowQuantizer.Row(type, values, buffer.AsSpan((int)(r * dstRow), (int)dstRow));
                return values;
            }, _ => { });
            stream.Write(buffer, 0, (int)(count * dstRow));
        }
    }
}

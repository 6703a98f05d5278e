using System.Globalization;
using System.Text;

namespace QwenSharp.Models;

/// <summary>The family table of Models/README.md, generated from <see cref="Qwen15Presets"/> (a test checks that
/// the README holds exactly this text, so the docs cannot drift from the code).</summary>
public static class Qwen15PresetTable
{
    public static string Markdown()
    {
        var s = new StringBuilder();
        s.Append("| Model | hidden | ffn | layers | heads / kv | head dim | vocab rows | context | tied | parameters | F16 weights | Q8_0 weights | KV F16 per 1K tokens |\n");
        s.Append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var p in Qwen15Presets.Base)
        {
            var c = p.Config;
            string ffn = c.Moe is { } m
                ? $"{m.ExpertCount}×{m.ExpertFeedForwardSize} (top-{m.ExpertUsedCount}) + shared {m.SharedFeedForwardSize}"
                : c.FeedForwardSize.ToString(CultureInfo.InvariantCulture);
            string parameters = MemoryPlan.FormatCount(p.ParameterCount)
                                + (c.Moe != null ? $" ({MemoryPlan.FormatCount(p.ActiveParameterCount)} active)" : "");
            string context = c.Moe != null ? $"{c.ContextLength} (chat 32768)" : c.ContextLength.ToString(CultureInfo.InvariantCulture);
            var f16 = MemoryPlan.ForConfig(c, p.TiedEmbeddings, 2.0, 1024, KvCacheType.F16);
            var q8 = MemoryPlan.ForConfig(c, p.TiedEmbeddings, 34.0 / 32, 1024, KvCacheType.F16);
            s.Append(CultureInfo.InvariantCulture,
                $"| {p.Name} | {c.HiddenSize} | {ffn} | {c.LayerCount} | {c.HeadCount} / {c.KvHeadCount} | {c.HeadDim} | {c.VocabSize} | {context} | {(p.TiedEmbeddings ? "yes" : "no")} | {parameters} | {MemoryPlan.FormatBytes(f16.WeightBytes)} | {MemoryPlan.FormatBytes(q8.WeightBytes)} | {MemoryPlan.FormatBytes(f16.KvCacheBytes)} |\n");
        }
        return s.ToString();
    }
}

using QwenSharp.Models;
using QwenSharp.Tensors;

namespace QwenSharp.Cli.Bench;

/// <summary>What a benchmark says about the model it ran: size on disk, parameter count, the main weight type, and
/// how many weight bytes one decoded token reads.</summary>
internal sealed record ModelFootprint(string Name, long FileBytes, long TensorBytes, long Parameters, string WeightType, long WeightBytesPerToken)
{
    /// <summary>Tokens per second if every decode step only had to stream the weights once at <paramref name="gbps"/>.</summary>
    public double BoundTps(double gbps) => gbps * 1e9 / WeightBytesPerToken;

    /// <summary>A decode speed as a percentage of that bound: how close it comes to the memory bandwidth.</summary>
    public double BandwidthPct(double tps, double gbps) => 100 * tps / BoundTps(gbps);

    public static ModelFootprint Of(Qwen2Model m)
    {
        long parameters = 0, bytes = 0;
        foreach (var t in m.Source.Tensors)
        {
            parameters += t.ElementCount;
            bytes += t.ByteSize;
        }
        return new ModelFootprint(m.Name, m.Source.FileSize, bytes, parameters, MainWeightType(m.Weights), BytesReadPerToken(m.Weights));
    }

    /// <summary>Bytes of weights a decode step must stream from memory: every 2-D matrix of every layer plus the
    /// output head (the embedding itself when tied). The embedding lookup reads one row and is left out, as are the
    /// norm and bias vectors (kilobytes) and the KV cache (small for short generations).</summary>
    public static long BytesReadPerToken(Qwen2Weights w)
    {
        long total = Bytes(w.Output);
        foreach (var l in w.Layers)
            total += Bytes(l.Wq) + Bytes(l.Wk) + Bytes(l.Wv) + Bytes(l.Wo) + Bytes(l.WGate) + Bytes(l.WUp) + Bytes(l.WDown)
                     + (l.Moe?.BytesReadPerToken ?? 0); // MoE: only the chosen experts are read
        return total;
    }

    private static long Bytes(in WeightMatrix m) => m.RowBytes * m.Rows;

    /// <summary>The type holding most of the layer matrices' bytes, e.g. "Q8_0"; "+" marks a mix (as in Q4_K_M files).</summary>
    private static string MainWeightType(Qwen2Weights w)
    {
        var byType = new Dictionary<GgmlType, long>();
        foreach (var l in w.Layers)
            foreach (var m in l.Moe is { } moe ? [l.Wq, l.Wk, l.Wv, l.Wo, .. moe.Matrices] : new[] { l.Wq, l.Wk, l.Wv, l.Wo, l.WGate, l.WUp, l.WDown })
                byType[m.Type] = byType.GetValueOrDefault(m.Type) + Bytes(m);
        var main = byType.MaxBy(kv => kv.Value).Key;
        return GgmlTypeInfo.Name(main).ToUpperInvariant() + (byType.Count > 1 ? "+" : "");
    }

    public string SizeText => FormatBytes(FileBytes);

    public string ParamsText => Parameters >= 1_000_000_000 ? $"{Parameters / 1e9:F2} B" : $"{Parameters / 1e6:F2} M";

    public static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F2} GiB" : $"{bytes / (double)(1 << 20):F1} MiB";
}

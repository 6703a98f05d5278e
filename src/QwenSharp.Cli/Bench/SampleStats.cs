namespace QwenSharp.Cli.Bench;

/// <summary>Summary of repeated measurements: the median is what benchmarks report (robust to one slow rep on a
/// shared machine), min/max and the sample standard deviation show how noisy the reps were.</summary>
internal readonly record struct SampleStats(double Median, double Min, double Max, double StdDev, int Count)
{
    public static SampleStats Of(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples", nameof(samples));
        double[] sorted = [.. samples];
        Array.Sort(sorted);
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        double mean = sorted.Average();
        double variance = n > 1 ? sorted.Sum(x => (x - mean) * (x - mean)) / (n - 1) : 0;
        return new SampleStats(median, sorted[0], sorted[^1], Math.Sqrt(variance), n);
    }

    /// <summary>"123.45 ± 1.23" (median ± standard deviation), as llama-bench prints its t/s column.</summary>
    public string Format() => $"{Median:F2} ± {StdDev:F2}";
}

using System.CommandLine;
using System.Diagnostics;
using System.Text;
using QwenSharp.Tokenization;

namespace QwenSharp.Bench;

/// <summary>`tokenizer` mode: QwenSharp's tokenizer against HuggingFace tokenizers (Rust, through Tokenizers.DotNet)
/// on the same ~10 MB of mixed-language text, reps alternating between the two in one process. The text is the
/// tokenizer parity corpus (many scripts, code, numbers, emoji) re-cut: every copy shuffles its lines, and some words
/// get random digits and case changes, so the words are not all cache hits. Both are checked to give the same ids.</summary>
internal static class TokenizerBench
{
    public static Command Create()
    {
        var mb = new Option<int>("--mb") { Description = "Megabytes of text (UTF-8)", DefaultValueFactory = _ => 10 };
        var reps = new Option<int>("--reps", "-r") { Description = "Timed repetitions per tokenizer", DefaultValueFactory = _ => 3 };
        var tokenizer = new Option<string>("--tokenizer") { Description = "tokenizer.json (default ../shared/qwen-tokenizer/tokenizer.json beside the repo)" };
        var corpus = new Option<string>("--corpus") { Description = "Seed text (default tests/QwenSharp.Tests/Tokenization/corpus.txt)" };
        var cmd = new Command("tokenizer", "Tokenizer throughput: QwenSharp vs HuggingFace tokenizers") { mb, reps, tokenizer, corpus };
        cmd.SetAction(r =>
        {
            string root = RepoRoot();
            string json = r.GetValue(tokenizer) ?? Path.Combine(root, "..", "shared", "qwen-tokenizer", "tokenizer.json");
            string seed = r.GetValue(corpus) ?? Path.Combine(root, "tests", "QwenSharp.Tests", "Tokenization", "corpus.txt");
            Run(json, File.ReadAllText(seed), Math.Max(1, r.GetValue(mb)), Math.Max(1, r.GetValue(reps)));
            return 0;
        });
        return cmd;
    }

    private static void Run(string tokenizerJson, string seedText, int megabytes, int reps)
    {
        string text = MakeText(seedText, megabytes << 20);
        string[] lines = text.Split('\n');
        long bytes = Encoding.UTF8.GetByteCount(text);
        var ours = QwenTokenizer.FromHuggingFaceJson(tokenizerJson);
        using var hf = new Tokenizers.DotNet.Tokenizer(tokenizerJson);

        int[] ourIds = ours.Encode(text);
        uint[] hfIds = hf.Encode(text);
        bool same = ourIds.Length == hfIds.Length && ourIds.Select(i => (uint)i).SequenceEqual(hfIds);
        Console.Error.WriteLine($"text: {bytes / 1048576.0:F1} MiB, {lines.Length} lines, {ourIds.Length} tokens; ids identical: {same}");

        var results = new Dictionary<string, List<double>>();
        void Time(string name, Action action)
        {
            var sw = Stopwatch.StartNew();
            action();
            double mbps = bytes / 1048576.0 / sw.Elapsed.TotalSeconds;
            (results.TryGetValue(name, out var list) ? list : results[name] = []).Add(mbps);
            Console.Error.WriteLine($"  {name,-28} {mbps,8:F2} MiB/s");
        }
        for (int rep = 0; rep < reps; rep++)
        {
            // Alternate which goes first so drift on a shared machine hits both alike.
            var order = rep % 2 == 0 ? new[] { 0, 1 } : [1, 0];
            foreach (int who in order)
            {
                if (who == 0) Time("QwenSharp whole text", () => ours.Encode(text));
                else Time("HF tokenizers whole text", () => hf.Encode(text));
            }
            foreach (int who in order)
            {
                if (who == 0) Time("QwenSharp line by line", () => { foreach (string l in lines) ours.Encode(l); });
                else Time("HF tokenizers line by line", () => { foreach (string l in lines) hf.Encode(l); });
            }
        }
        Console.WriteLine($"| tokenizer ({bytes / 1048576.0:F1} MiB mixed text, {ourIds.Length:N0} tokens, ids identical: {same}) | median MiB/s | best MiB/s |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, list) in results)
            Console.WriteLine($"| {name} | {Median(list):F2} | {list.Max():F2} |");
        double ratioWhole = Median(results["QwenSharp whole text"]) / Median(results["HF tokenizers whole text"]);
        double ratioLines = Median(results["QwenSharp line by line"]) / Median(results["HF tokenizers line by line"]);
        Console.WriteLine($"\nQwenSharp / HF: whole text {ratioWhole:F2}x, line by line {ratioLines:F2}x");
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string MakeText(string seed, int targetBytes)
    {
        string[] lines = seed.Split('\n').Where(l => l.Length > 0).ToArray();
        var rng = new Random(12345);
        var sb = new StringBuilder(targetBytes + 4096);
        long bytes = 0;
        while (bytes < targetBytes)
        {
            foreach (string line in lines.OrderBy(_ => rng.Next()))
            {
                string l = line;
                if (rng.Next(3) == 0)
                {
                    var words = l.Split(' ');
                    for (int i = 0; i < words.Length; i++)
                    {
                        int roll = rng.Next(10);
                        if (roll == 0) words[i] += rng.Next(100000).ToString();
                        else if (roll == 1 && words[i].Length > 0) words[i] = char.ToUpperInvariant(words[i][0]) + words[i][1..];
                    }
                    l = string.Join(' ', words);
                }
                sb.Append(l).Append('\n');
                bytes += Encoding.UTF8.GetByteCount(l) + 1;
                if (bytes >= targetBytes) break;
            }
        }
        return sb.ToString();
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) return dir.FullName;
        throw new QwenSharpException("QwenSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}

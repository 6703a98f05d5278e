namespace QwenSharp.Tests;

/// <summary>Where tests find things outside the repo: the real Qwen vocabulary lives in ../shared beside the
/// repo root (never copied in), and scratch files go to a per-run temp folder.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SharedTokenizerDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "qwen-tokenizer"));

    public static string SharedTokenizerJson => Path.Combine(SharedTokenizerDir, "tokenizer.json");

    /// <summary>A fresh folder for one test's files.</summary>
    public static string NewTempDir(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "qwensharp-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) return dir.FullName;
        throw new InvalidOperationException("QwenSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}

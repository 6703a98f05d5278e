using System.Diagnostics;

namespace QwenSharp.Tests;

/// <summary>Where tests find things outside the repo: the real Qwen vocabulary lives in ../shared beside the
/// repo root (never copied in), and scratch files go to one folder per test process that is deleted when the
/// process exits.</summary>
/// <remarks>A run writes a few GB of synthetic models with the real 151,936-token vocabulary. Leaving them behind
/// filled a 252 GB disk after a few dozen runs and CI then failed with "No space left on device", so every
/// process cleans up after itself, and the first scratch request also removes what crashed or killed runs left.</remarks>
public static class TestPaths
{
    private const string RunPrefix = "run-";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SharedTokenizerDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "qwen-tokenizer"));

    public static string SharedTokenizerJson => Path.Combine(SharedTokenizerDir, "tokenizer.json");

    /// <summary>Parent of every test process's scratch folder.</summary>
    public static string ScratchParent { get; } = Path.Combine(Path.GetTempPath(), "qwensharp-tests");

    private static readonly Lazy<string> RunDir = new(CreateRunDir);

    /// <summary>This process's scratch folder: qwensharp-tests/run-PID-XXXXXXXX, removed at process exit.</summary>
    public static string RunScratchDir => RunDir.Value;

    /// <summary>A fresh folder for one test's files, inside this process's scratch folder.</summary>
    public static string NewTempDir(string name)
    {
        string dir = Path.Combine(RunDir.Value, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string CreateRunDir()
    {
        Directory.CreateDirectory(ScratchParent);
        RemoveLeftovers();
        string dir = Path.Combine(ScratchParent, $"{RunPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(dir);
        return dir;
    }

    /// <summary>Deletes run folders whose process is gone, and anything else older than an hour (older layouts
    /// wrote straight into the parent). Folders of live test processes, such as the other test project running
    /// beside this one, are left alone.</summary>
    internal static void RemoveLeftovers()
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(ScratchParent))
        {
            string name = Path.GetFileName(entry);
            bool stale = TryParseRunPid(name, out int pid)
                ? !ProcessIsAlive(pid)
                : Directory.GetLastWriteTimeUtc(entry) < DateTime.UtcNow.AddHours(-1);
            if (stale) TryDelete(entry);
        }
    }

    internal static bool TryParseRunPid(string folderName, out int pid)
    {
        pid = 0;
        if (!folderName.StartsWith(RunPrefix, StringComparison.Ordinal)) return false;
        int dash = folderName.IndexOf('-', RunPrefix.Length);
        return dash > RunPrefix.Length && int.TryParse(folderName.AsSpan(RunPrefix.Length, dash - RunPrefix.Length), out pid);
    }

    private static bool ProcessIsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QwenSharp.slnx"))) return dir.FullName;
        throw new InvalidOperationException("QwenSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}

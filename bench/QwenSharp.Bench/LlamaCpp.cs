using System.Collections.Concurrent;
using LLama.Native;

namespace QwenSharp.Bench;

/// <summary>Process-wide set-up of llama.cpp (LLamaSharp's CPU backend): its log is kept in memory, not printed, and
/// shown only when something fails; and its quantizer, called directly because LLamaSharp's wrapper refuses BF16.</summary>
internal static class LlamaCpp
{
    private static readonly ConcurrentQueue<string> Log = new();
    private static bool _initialized;

    public static void Initialize()
    {
        if (_initialized) return;
        // Must happen before the first native call loads the library.
        if (!NativeLibraryConfig.LLama.LibraryHasLoaded) NativeLibraryConfig.All.WithLogCallback(Capture);
        NativeLogConfig.llama_log_set(Capture);
        NativeApi.llama_empty_call(); // loads the library, so the quantizer's P/Invoke finds it
        _initialized = true;
    }

    private static void Capture(LLamaLogLevel level, string message)
    {
        Log.Enqueue($"[{level}] {message.TrimEnd()}");
        while (Log.Count > 200) Log.TryDequeue(out _);
    }

    public static string RecentLog(int lines = 15) => string.Join("\n", Log.TakeLast(lines));

    /// <summary>Which libllama.so was loaded: LLamaSharp picks the avx512 / avx2 / avx / noavx build for this CPU.</summary>
    public static string LoadedLibrary()
    {
        Initialize();
        if (!OperatingSystem.IsLinux()) return "unknown (not Linux)";
        string? path = File.ReadLines("/proc/self/maps")
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .FirstOrDefault(p => p.EndsWith("libllama.so", StringComparison.Ordinal));
        return path is null ? "not found" : Path.GetFileName(Path.GetDirectoryName(path)) + "/libllama.so";
    }

    public static void Quantize(string source, string destination, LLamaFtype ftype, int threads)
    {
        Initialize();
        LLamaModelQuantizeParams p = LLamaModelQuantizeParams.Default();
        p.nthread = threads;
        p.ftype = ftype;
        p.allow_requantize = false;
        p.quantize_output_tensor = true;
        p.pure = false;
        uint rc = NativeApi.llama_model_quantize(source, destination, ref p);
        if (rc != 0) throw new QwenSharpException($"llama.cpp could not quantize {source} to {ftype} (code {rc}): {RecentLog(5)}");
    }
}

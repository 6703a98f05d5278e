using System.Collections.Concurrent;
using LLama.Native;

namespace QwenSharp.Tests.Oracle;

/// <summary>Process-wide set-up of llama.cpp (LLamaSharp's CPU backend), shared by the tests' oracle
/// (<see cref="LlamaCppOracle"/>) and the side-by-side benchmark (bench/, which compiles this file in): its log is
/// kept in memory rather than printed, and shown when something fails; which libllama.so was loaded; and its
/// quantizer, called directly because LLamaSharp's wrapper refuses BF16 and hides --pure. Callers serialise the
/// quantizer themselves if they run it from several threads.</summary>
internal static class LlamaCppNative
{
    private static readonly ConcurrentQueue<string> Log = new();
    private const int LogLinesKept = 200;

    static LlamaCppNative()
    {
        // Must happen before the first native call loads the library; later it can only be re-pointed.
        if (!NativeLibraryConfig.LLama.LibraryHasLoaded)
            NativeLibraryConfig.All.WithLogCallback(Capture);
        NativeLogConfig.llama_log_set(Capture);
        // Load the library now: some entry points (the quantizer) P/Invoke without going through LLamaSharp's
        // loader and would not find it otherwise.
        NativeApi.llama_empty_call();
    }

    /// <summary>Runs the set-up above (once per process).</summary>
    public static void Initialize() { }

    private static void Capture(LLamaLogLevel level, string message)
    {
        Log.Enqueue($"[{level}] {message.TrimEnd()}");
        while (Log.Count > LogLinesKept) Log.TryDequeue(out _);
    }

    /// <summary>The last lines llama.cpp logged, newest last.</summary>
    public static string RecentLog(int lines = 20) => string.Join("\n", Log.TakeLast(lines));

    /// <summary>Path of the libllama.so this process loaded (its folder names the CPU variant: avx512, avx2, avx,
    /// noavx), or null.</summary>
    public static string? LoadedLibraryPath()
    {
        Initialize();
        if (!OperatingSystem.IsLinux()) return null;
        return File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .FirstOrDefault(p => p.EndsWith("libllama.so", StringComparison.Ordinal));
    }

    /// <summary>llama_model_quantize from <paramref name="srcGguf"/> to <paramref name="dstGguf"/>. Without
    /// <paramref name="pure"/>, K-quant file types are llama.cpp's mixes (some tensors at a higher type), as published
    /// GGUFs are; with it, every matrix whose rows fit the block size gets the one type.</summary>
    public static void Quantize(string srcGguf, string dstGguf, LLamaFtype ftype, bool pure, int threads)
    {
        Initialize();
        if (!File.Exists(srcGguf)) throw new FileNotFoundException("model file not found", srcGguf);
        LLamaModelQuantizeParams p = LLamaModelQuantizeParams.Default();
        p.nthread = threads;
        p.ftype = ftype;
        p.allow_requantize = true;
        p.quantize_output_tensor = true;
        p.pure = pure;
        uint rc = NativeApi.llama_model_quantize(srcGguf, dstGguf, ref p);
        if (rc != 0) throw new InvalidOperationException($"llama.cpp could not quantize {srcGguf} to {ftype} (code {rc}):\n{RecentLog()}");
    }
}

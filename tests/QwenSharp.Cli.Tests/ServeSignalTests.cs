using System.Diagnostics;
using System.Runtime.InteropServices;

namespace QwenSharp.Cli.Tests;

/// <summary>`qwen serve` as its own process ends on SIGTERM (what docker stop, systemd and kill send) and on SIGINT
/// (Ctrl+C): it stops listening and exits with code 0. Before, SIGTERM stopped the host but the command went on
/// waiting for a Ctrl+C.</summary>
public class ServeSignalTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [Theory]
    [InlineData(15)]   // SIGTERM
    [InlineData(2)]    // SIGINT
    public async Task ASignalStopsTheServerAndTheProcessExits(int signal)
    {
        if (!OperatingSystem.IsLinux()) return;   // the signal is sent through libc
        string models = Path.Combine(Path.GetTempPath(), "qwen-serve-signal-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(models);
        string qwenDll = typeof(Program).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { qwenDll, "serve", "--models", models, "--port", "0" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        try
        {
            // wait for the listening line (the host is up and its console lifetime installed)
            using var startup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line = await process.StandardOutput.ReadLineAsync(startup.Token);
            Assert.Contains("listening on http://", line);

            Assert.Equal(0, kill(process.Id, signal));
            using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(shutdown.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"qwen serve was still running 30 s after signal {signal}");
            }
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            Directory.Delete(models, recursive: true);
        }
    }
}

using System.Text.Json;

namespace QwenSharp.Cli.Tests;

/// <summary>The `qwen` command runs without tiered compilation (see QwenSharp.Cli.csproj: with tiering the first
/// seconds of decoding ran partly unoptimized code), so its runtimeconfig must say so.</summary>
public class RuntimeConfigTests
{
    [Fact]
    public void TheQwenCommandRunsWithoutTieredCompilation()
    {
        string config = Path.ChangeExtension(typeof(Program).Assembly.Location, ".runtimeconfig.json");
        Assert.True(File.Exists(config), $"{config} is missing");
        using var doc = JsonDocument.Parse(File.ReadAllText(config));
        var properties = doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(properties.TryGetProperty("System.Runtime.TieredCompilation", out var tiered), "no System.Runtime.TieredCompilation in " + config);
        Assert.False(tiered.GetBoolean());
    }
}

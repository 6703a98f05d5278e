using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>Each family member's config against its published size: the parameter counts shown on the Hugging Face
/// model pages (safetensors metadata), to their printed precision. Counted from shapes; no weights are allocated.</summary>
public class Qwen15PresetTests
{
    [Theory]
    [InlineData("Qwen1.5-0.5B", 0.464, 0.0005)]    // tied embeddings: counted once
    [InlineData("Qwen1.5-1.8B", 1.84, 0.005)]
    [InlineData("Qwen1.5-4B", 3.95, 0.005)]
    [InlineData("Qwen1.5-7B", 7.72, 0.005)]
    [InlineData("Qwen1.5-14B", 14.2, 0.05)]
    [InlineData("Qwen1.5-32B", 32.5, 0.05)]
    [InlineData("Qwen1.5-72B", 72.3, 0.05)]
    [InlineData("Qwen1.5-110B", 111, 0.5)]
    [InlineData("Qwen1.5-MoE-A2.7B", 14.3, 0.05)]
    [InlineData("CodeQwen1.5-7B", 7.25, 0.005)]
    public void ParameterCountMatchesThePublishedSize(string name, double billions, double halfUnit)
    {
        foreach (string variant in new[] { name, name + "-Chat" })
        {
            var preset = Qwen15Presets.Find(variant)!;
            Assert.Null(preset.Config.Problem());
            double actual = preset.ParameterCount / 1e9;
            Assert.True(Math.Abs(actual - billions) <= halfUnit, $"{variant}: {actual:F4}B, published {billions}B");
        }
    }

    [Fact]
    public void MoeActivatesTwoPointSevenBillion()
    {
        var moe = Qwen15Presets.Find("Qwen1.5-MoE-A2.7B")!;
        Assert.Equal(2.7, moe.ActiveParameterCount / 1e9, 1);
        Assert.True(moe.ActiveParameterCount < moe.ParameterCount / 5);
        foreach (var dense in Qwen15Presets.All.Where(p => p.Config.Moe == null)) Assert.Equal(dense.ParameterCount, dense.ActiveParameterCount);
    }

    [Fact]
    public void GqaRatiosAndContextsOfTheFamily()
    {
        Assert.Equal(5, Qwen15Presets.Find("Qwen1.5-32B")!.Config.HeadsPerKvHead);   // 40 over 8
        Assert.Equal(8, Qwen15Presets.Find("Qwen1.5-110B")!.Config.HeadsPerKvHead);  // 64 over 8
        Assert.Equal(8, Qwen15Presets.Find("CodeQwen1.5-7B")!.Config.HeadsPerKvHead); // 32 over 4
        Assert.Equal(65536, Qwen15Presets.Find("CodeQwen1.5-7B")!.Config.ContextLength);
        Assert.Equal(8192, Qwen15Presets.Find("Qwen1.5-MoE-A2.7B")!.Config.ContextLength);
        Assert.Equal(32768, Qwen15Presets.Find("Qwen1.5-MoE-A2.7B-Chat")!.Config.ContextLength);
        Assert.Equal(20, Qwen15Presets.All.Count);
    }

    [Fact]
    public void DocsTableIsTheOneThePresetsGenerate()
    {
        string path = Path.Combine(TestPaths.RepoRoot, "src", "QwenSharp", "Models", "README.md");
        string table = Qwen15PresetTable.Markdown();
        Assert.Contains(table, File.ReadAllText(path).ReplaceLineEndings("\n"));
    }
}

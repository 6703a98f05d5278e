namespace QwenSharp.Tests;

/// <summary>Scratch folders of finished test processes are removed, so repeated runs cannot fill the disk.</summary>
public class TestPathsTests
{
    [Fact]
    public void LeftoversOfDeadProcessesAreRemovedAndLiveOnesKept()
    {
        string mine = TestPaths.NewTempDir("keep");
        string dead = Path.Combine(TestPaths.ScratchParent, "run-2147483646-deadbeef");
        Directory.CreateDirectory(Path.Combine(dead, "model"));
        File.WriteAllBytes(Path.Combine(dead, "model", "x.gguf"), new byte[16]);

        TestPaths.RemoveLeftovers();

        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(mine));
        Assert.True(Directory.Exists(TestPaths.RunScratchDir));
    }

    [Theory]
    [InlineData("run-1234-abcdef12", true, 1234)]
    [InlineData("run--abcdef12", false, 0)]
    [InlineData("parity-abcdef12", false, 0)]
    public void RunFolderNamesCarryTheirProcessId(string name, bool parsed, int pid)
    {
        Assert.Equal(parsed, TestPaths.TryParseRunPid(name, out int got));
        Assert.Equal(pid, got);
    }
}

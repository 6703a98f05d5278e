namespace QwenSharp.Cli.Tests;

public class SmokeTests
{
    [Fact]
    public void MainReturnsZero() => Assert.Equal(0, QwenSharp.Cli.Program.Main([]));
}

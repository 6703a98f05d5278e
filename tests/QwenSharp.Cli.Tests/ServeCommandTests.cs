namespace QwenSharp.Cli.Tests;

/// <summary>`qwen serve` refuses bad settings with one line and exit code 1, before it listens anywhere.</summary>
public class ServeCommandTests
{
    private static (int Code, string Err) Qwen(params string[] args)
    {
        var (code, _, err) = QwenCli.Qwen(args);
        return (code, err);
    }

    [Theory]
    [InlineData("--parallel", "0", "--parallel must be at least 1")]
    [InlineData("--max-queue", "-1", "--max-queue must be 0 or more")]
    [InlineData("--port", "70000", "--port must be 0..65535")]
    public void BadNumbersAreRefused(string flag, string value, string message)
    {
        var (code, err) = Qwen("serve", "--models", Path.GetTempPath(), flag, value);
        Assert.Equal(1, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void AMissingModelsFolderIsRefused()
    {
        var (code, err) = Qwen("serve", "--models", "/no/such/folder/anywhere");
        Assert.Equal(1, code);
        Assert.Contains("models folder not found", err);
    }

    [Fact]
    public void EnvironmentVariablesAreReadWhenNoFlagIsGiven()
    {
        Environment.SetEnvironmentVariable("QWEN_PARALLEL", "zero");
        try
        {
            var (code, err) = Qwen("serve", "--models", Path.GetTempPath());
            Assert.Equal(1, code);
            Assert.Contains("QWEN_PARALLEL must be a whole number", err);
        }
        finally
        {
            Environment.SetEnvironmentVariable("QWEN_PARALLEL", null);
        }
    }
}

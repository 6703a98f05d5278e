namespace QwenSharp.Tests.Models;

/// <summary>A test that runs only when an environment variable is set to 1 (large, slow checks kept out of CI);
/// otherwise it is reported as skipped, with the variable to set.</summary>
public sealed class EnvironmentFactAttribute : FactAttribute
{
    public EnvironmentFactAttribute(string variable)
    {
        if (Environment.GetEnvironmentVariable(variable) != "1")
            Skip = $"set {variable}=1 to run (large model, not run in CI)";
    }
}

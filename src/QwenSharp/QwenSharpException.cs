namespace QwenSharp;

/// <summary>The one exception type QwenSharp throws for anything a user can cause: bad files, bad arguments,
/// a model that does not fit. Its message is meant to be shown to the user as it is, on one line.</summary>
public class QwenSharpException : Exception
{
    public QwenSharpException(string message) : base(message) { }
    public QwenSharpException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A model file (GGUF, safetensors, tokenizer) that cannot be used. The message names the file and the problem.</summary>
public sealed class ModelFileException : QwenSharpException
{
    public string FilePath { get; }

    public ModelFileException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
    }
}

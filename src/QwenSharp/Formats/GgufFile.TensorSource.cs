namespace QwenSharp.Formats;

/// <summary>A GGUF file already has every member a tensor source needs.</summary>
public sealed unsafe partial class GgufFile : ITensorSource;

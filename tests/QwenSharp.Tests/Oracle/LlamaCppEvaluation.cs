namespace QwenSharp.Tests.Oracle;

/// <summary>How the oracle feeds tokens to llama.cpp.</summary>
internal enum LlamaCppEvaluation
{
    /// <summary>All tokens in one llama_decode call (prompt processing: batched matrix kernels), weights repacked
    /// as llama.cpp does by default.</summary>
    OneBatch,
    /// <summary>One batch with weight repacking off (use_extra_bufts = false).</summary>
    OneBatchUnrepacked,
    /// <summary>One token per llama_decode call (generation: matrix-vector kernels), weights repacked.</summary>
    TokenByToken,
    /// <summary>One token per call with weight repacking off: ggml's plain vec_dot kernels on the weights as stored
    /// in the file.</summary>
    TokenByTokenUnrepacked,
}

internal static class LlamaCppEvaluationExtensions
{
    public static bool IsOneBatch(this LlamaCppEvaluation e) => e is LlamaCppEvaluation.OneBatch or LlamaCppEvaluation.OneBatchUnrepacked;

    public static bool RepacksWeights(this LlamaCppEvaluation e) => e is LlamaCppEvaluation.OneBatch or LlamaCppEvaluation.TokenByToken;
}

using System.Numerics.Tensors;

namespace QwenSharp.Models;

/// <summary>How a sequence's final hidden states become one embedding vector.</summary>
public enum EmbeddingPooling
{
    /// <summary>Average over every token (what Ollama's embedding models and most sentence encoders do).</summary>
    Mean,
    /// <summary>The last token's state (a decoder-only model has read the whole text only there).</summary>
    LastToken,
}

public sealed unsafe partial class Qwen2Context
{
    /// <summary>Runs <paramref name="tokens"/> through the model on <paramref name="sequence"/> (cleared first, and
    /// left holding these tokens) and writes the pooled, final-norm'd hidden state (HiddenSize floats) to
    /// <paramref name="output"/>. No logits are computed. The vector is not normalised: callers decide.</summary>
    public void EmbedSequence(ReadOnlySpan<int> tokens, int sequence, EmbeddingPooling pooling, Span<float> output)
    {
        int h = _c.HiddenSize;
        if (tokens.IsEmpty) throw new QwenSharpException("cannot embed an empty input");
        if (output.Length != h) throw new ArgumentException($"output must hold {h} floats", nameof(output));
        if ((uint)sequence >= (uint)Cache.SequenceCount)
            throw new QwenSharpException($"sequence {sequence} does not exist (this context has {Cache.SequenceCount})");
        if (tokens.Length > ContextLength)
            throw new QwenSharpException($"the input has {tokens.Length} tokens but the context holds {ContextLength}");

        Cache.Clear(sequence);
        _outputCount = 0;
        output.Clear();
        var chunk = new BatchEntry[Math.Min(MaxBatch, tokens.Length)];
        var normed = new float[h];
        for (int start = 0; start < tokens.Length; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, tokens.Length - start);
            for (int i = 0; i < n; i++) chunk[i] = new BatchEntry(tokens[start + i], start + i, sequence, WantLogits: false);
            var entries = new ReadOnlySpan<BatchEntry>(chunk, 0, n);
            Validate(entries);
            ForwardChunk(entries);
            // _x now holds the residual stream after the last layer for this chunk's tokens.
            for (int b = 0; b < n; b++)
            {
                if (pooling == EmbeddingPooling.LastToken && start + b != tokens.Length - 1) continue;
                RmsNormRow(Row(_x, b, h), Model.Weights.OutputNorm, _c.RmsNormEps, normed);
                TensorPrimitives.Add(output, normed, output);
            }
        }
        if (pooling == EmbeddingPooling.Mean) TensorPrimitives.Multiply(output, 1f / tokens.Length, output);
    }
}

using System.Numerics.Tensors;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

// The Qwen2 forward pass (../shared/specs/QWEN15.md §2), one chunk of batch entries at a time:
//   x = Embed[token]
//   per layer: x += Wo · Attention(RoPE(Wq·n(x)+bq), RoPE(Wk·n(x)+bk), Wv·n(x)+bv)
//              x += Wdown · (silu(Wgate·n(x)) ⊙ Wup·n(x))
//   logits = Wout · n(x)          (only for entries that want them)
public sealed unsafe partial class Qwen2Context
{
    /// <summary>Runs the model over <paramref name="batch"/>: writes each entry's key and value into the cache at
    /// its (sequence, position) and computes logits for the entries that want them (read with <see cref="Logits"/>).
    /// Each entry must extend its sequence: position = tokens already cached for that sequence.</summary>
    public int Decode(ReadOnlySpan<BatchEntry> batch)
    {
        Validate(batch);
        int wanted = 0;
        foreach (var e in batch) if (e.WantLogits) wanted++;
        if (_logits.Length < (long)wanted * _c.VocabSize) _logits = new float[checked(wanted * _c.VocabSize)];
        _outputCount = 0;
        for (int start = 0; start < batch.Length; start += MaxBatch)
            ForwardChunk(batch.Slice(start, Math.Min(MaxBatch, batch.Length - start)));
        return _outputCount;
    }

    private void ForwardChunk(ReadOnlySpan<BatchEntry> batch)
    {
        int n = batch.Length, h = _c.HiddenSize, kvDim = _c.KvDim, f = _c.FeedForwardSize;
        var w = Model.Weights;

        for (int b = 0; b < n; b++)
            Dequantize.Row(w.TokenEmbedding.Type, new ReadOnlySpan<byte>(w.TokenEmbedding.Row(batch[b].Token), (int)w.TokenEmbedding.RowBytes), Row(_x, b, h));
        ComputeRope(batch);

        for (int l = 0; l < _c.LayerCount; l++)
        {
            var layer = w.Layers[l];

            // attention block
            RmsNorm(_x, layer.AttnNorm, _xn, n);
            MatMul(layer.Wq, _xn, n, _q);
            MatMul(layer.Wk, _xn, n, _k);
            MatMul(layer.Wv, _xn, n, _v);
            AddBias(_q, layer.Bq, n);
            AddBias(_k, layer.Bk, n);
            AddBias(_v, layer.Bv, n);
            for (int b = 0; b < n; b++)
            {
                ApplyRope(_q + (long)b * h, _c.HeadCount, b);
                ApplyRope(_k + (long)b * kvDim, _c.KvHeadCount, b);
                StoreKv(l, batch[b], b);
            }
            _attention.Set(this, l, batch);
            Pool.Run(_attention);
            MatMul(layer.Wo, _attn, n, _xn);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * h), new ReadOnlySpan<float>(_xn, n * h), new Span<float>(_x, n * h));

            // feed-forward block (SwiGLU; qwen2moe's experts in Qwen2MoeForward.cs)
            RmsNorm(_x, layer.FfnNorm, _xn, n);
            if (layer.Moe != null)
            {
                MoeFeedForward(layer.Moe, n);
                continue;
            }
            MatMul(layer.WGate, _xn, n, _gate);
            MatMul(layer.WUp, _xn, n, _up);
            SwiGlu(new Span<float>(_gate, n * f), new Span<float>(_up, n * f));
            MatMul(layer.WDown, _gate, n, _xn);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * h), new ReadOnlySpan<float>(_xn, n * h), new Span<float>(_x, n * h));
        }

        // Output head, for the entries that want logits only: gather their rows, norm, project.
        int outputs = 0;
        for (int b = 0; b < n; b++)
            if (batch[b].WantLogits) _outputRows[outputs++] = b;
        if (outputs == 0) return;
        for (int i = 0; i < outputs; i++)
            Row(_x, _outputRows[i], h).CopyTo(Row(_attn, i, h));
        RmsNorm(_attn, w.OutputNorm, _xn, outputs);
        fixed (float* logits = &_logits[(long)_outputCount * _c.VocabSize])
            MatMul(w.Output, _xn, outputs, logits);
        _outputCount += outputs;
    }

    /// <summary>output[b, :] = W · input[b, :] for b in [0, n): quantize the inputs to the weight's dot type once,
    /// then split W's rows across the pool.</summary>
    private void MatMul(in WeightMatrix weight, float* input, int n, float* output)
    {
        _quantize.Set(weight.Type, input, weight.Cols, n, _act);
        Pool.Run(_quantize);
        _matMul.Set(weight, _act, n, output);
        Pool.Run(_matMul);
    }

    private void RmsNorm(float* input, float[] weight, float* output, int n)
    {
        int h = _c.HiddenSize;
        for (int b = 0; b < n; b++)
            RmsNormRow(new ReadOnlySpan<float>(input + (long)b * h, h), weight, _c.RmsNormEps, new Span<float>(output + (long)b * h, h));
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) ⊙ weight, rounded as ggml rounds it (rms_norm then mul): each square in
    /// fp32, summed in double in order, mean and scale in fp32; x·scale, then ·weight. Matching the rounding bit for
    /// bit matters because the result is quantized next, and a last-bit difference can move a value across a
    /// rounding boundary of the activation quantizer.</summary>
    internal static void RmsNormRow(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        double sumSquares = 0;
        foreach (float v in x) sumSquares += v * v; // the product in fp32, as ggml does, not in double
        float scale = 1f / MathF.Sqrt((float)(sumSquares / x.Length) + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>gate = silu(gate) ⊙ up = gate · sigmoid(gate) · up, in three vectorised passes (up is scratch).</summary>
    private static void SwiGlu(Span<float> gate, Span<float> up)
    {
        TensorPrimitives.Multiply(up, gate, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }

    private static void AddBias(float* rows, float[] bias, int n)
    {
        for (int b = 0; b < n; b++)
        {
            var row = new Span<float>(rows + (long)b * bias.Length, bias.Length);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    /// <summary>NeoX rotary angles per entry, computed as llama.cpp does (theta multiplied step by step in fp32).</summary>
    private void ComputeRope(ReadOnlySpan<BatchEntry> batch)
    {
        int half = _c.HeadDim / 2;
        float thetaScale = MathF.Pow(_c.RopeFreqBase, -2f / _c.HeadDim);
        for (int b = 0; b < batch.Length; b++)
            RopeAngles(batch[b].Position, thetaScale, new Span<float>(_ropeCos + b * half, half), new Span<float>(_ropeSin + b * half, half));
    }

    /// <summary>cos/sin of position·thetaScale^i for i in [0, cos.Length): theta starts at the position and is
    /// multiplied by thetaScale once per pair, in fp32, as ggml's rope cache does.</summary>
    internal static void RopeAngles(int position, float thetaScale, Span<float> cos, Span<float> sin)
    {
        float theta = position;
        for (int i = 0; i < cos.Length; i++)
        {
            cos[i] = MathF.Cos(theta);
            sin[i] = MathF.Sin(theta);
            theta *= thetaScale;
        }
    }

    /// <summary>Rotate every head of one entry's q or k: dimension i pairs with i + d/2 (rotate_half), not i + 1.</summary>
    private void ApplyRope(float* heads, int headCount, int b)
    {
        int d = _c.HeadDim, half = d / 2;
        float* cos = _ropeCos + b * half, sin = _ropeSin + b * half;
        for (int head = 0; head < headCount; head++) RotateHead(heads + head * d, cos, sin, half);
    }

    /// <summary>One head: (v[i], v[i+half]) rotated by the angle whose cos/sin are given, with the rounding of
    /// llama.cpp's x86 builds, where the compiler contracts x0·cos − x1·sin into fma(x0, cos, −(x1·sin)) and
    /// x0·sin + x1·cos into fma(x0, sin, x1·cos).</summary>
    internal static void RotateHead(float* v, float* cos, float* sin, int half)
    {
        for (int i = 0; i < half; i++)
        {
            float x0 = v[i], x1 = v[i + half];
            v[i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
            v[i + half] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
        }
    }

    private void StoreKv(int layer, BatchEntry e, int b)
    {
        int kv = _c.KvDim;
        var k = new ReadOnlySpan<float>(_k + (long)b * kv, kv);
        var v = new ReadOnlySpan<float>(_v + (long)b * kv, kv);
        byte* kDst = Cache.KeyRow(layer, e.Sequence, e.Position), vDst = Cache.ValueRow(layer, e.Sequence, e.Position);
        if (Cache.Type == KvCacheType.F32)
        {
            k.CopyTo(new Span<float>(kDst, kv));
            v.CopyTo(new Span<float>(vDst, kv));
        }
        else
        {
            TensorPrimitives.ConvertToHalf(k, new Span<Half>(kDst, kv));
            TensorPrimitives.ConvertToHalf(v, new Span<Half>(vDst, kv));
        }
        Cache.MarkWritten(e.Sequence, e.Position);
    }

    private void Validate(ReadOnlySpan<BatchEntry> batch)
    {
        for (int s = 0; s < _lengthCheck.Length; s++) _lengthCheck[s] = Cache.Length(s);
        foreach (var e in batch)
        {
            if ((uint)e.Token >= (uint)_c.VocabSize)
                throw new QwenSharpException($"token id {e.Token} is outside the vocabulary (0..{_c.VocabSize - 1})");
            if ((uint)e.Sequence >= (uint)_lengthCheck.Length)
                throw new QwenSharpException($"sequence {e.Sequence} does not exist (this context has {_lengthCheck.Length})");
            if (e.Position >= ContextLength)
                throw new ContextFullException(ContextLength);
            if (e.Position != _lengthCheck[e.Sequence])
                throw new QwenSharpException($"sequence {e.Sequence}: position {e.Position} does not follow its {_lengthCheck[e.Sequence]} cached positions");
            _lengthCheck[e.Sequence]++;
        }
    }

    private static Span<float> Row(float* matrix, int row, int width) => new(matrix + (long)row * width, width);
}

/// <summary>The context window is full: the prompt plus the answer would exceed it.</summary>
public sealed class ContextFullException(int contextLength)
    : QwenSharpException($"the context is full ({contextLength} tokens); start a new conversation or raise --ctx")
{
    public int ContextLength { get; } = contextLength;
}

using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using QwenSharp.Tensors;
using QwenSharp.Tensors.Kernels;
using QwenSharp.Tensors.Simd;

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
        // a single-entry step may be timed by the prefetch-distance tuner (Tensors/Kernels/PrefetchDistanceTuner.cs)
        var tuner = PrefetchDistanceTuner.Shared;
        bool timed = tuner.Begin(batch.Length);
        long start = timed ? System.Diagnostics.Stopwatch.GetTimestamp() : 0;
        try
        {
            for (int first = 0; first < batch.Length; first += MaxBatch)
                ForwardChunk(batch.Slice(first, Math.Min(MaxBatch, batch.Length - first)));
        }
        finally
        {
            if (timed) tuner.End(System.Diagnostics.Stopwatch.GetTimestamp() - start);
        }
        return _outputCount;
    }

    private void ForwardChunk(ReadOnlySpan<BatchEntry> batch)
    {
        int n = batch.Length, h = _c.HiddenSize, kvDim = _c.KvDim, f = _c.FeedForwardSize;
        var w = Model.Weights;

        long t = ForwardProfile.Start();
        ForwardProfile.CountCall(n);
        for (int b = 0; b < n; b++)
            EmbeddingRow(w.TokenEmbedding, batch[b].Token, Row(_x, b, h));
        ComputeRope(batch);
        t = ForwardProfile.Stop(ForwardProfile.Phase.Embed, t);

        for (int l = 0; l < _c.LayerCount; l++)
        {
            var layer = w.Layers[l];

            // attention block
            byte* woInput = null;   // Wo's input when the attention job quantized it
            var plan = _decodePlan[l];
            if (n == 1 && FusedDecodeAttention && plan.Attention)
            {
                // one entry: (the norm,) q/k/v, RoPE, cache and attention per KV head, in one job (DecodeAttentionJob.cs)
                _threadInputs.Set(_x, layer.AttnNorm, _c.RmsNormEps, layer.Wq.Type);
                if (plan.WoInput) woInput = _decodeAct;
                _decodeAttention.Set(this, layer, l, batch[0], _threadInputs, woInput);
                Pool.Run(_decodeAttention);
                FusedAttentionRuns++;
                if (woInput != null) FusedWoInputRuns++;
                Cache.MarkWritten(batch[0].Sequence, batch[0].Position);
                t = ForwardProfile.Stop(ForwardProfile.Phase.QkvAttention, t);
            }
            else
            {
                NormQuantize(layer.AttnNorm, n, layer.Wq.Type);
                t = ForwardProfile.Stop(ForwardProfile.Phase.Norm, t);
                t = MatMulGroup(layer.Wq, _q, layer.Wk, _k, layer.Wv, _v, n, ForwardProfile.Phase.MatMulQkv, t);
                _qkvFinish.Set(this, layer, l, batch);
                RunRows(_qkvFinish, n);
                foreach (var e in batch) Cache.MarkWritten(e.Sequence, e.Position);
                t = ForwardProfile.Stop(ForwardProfile.Phase.BiasRopeStore, t);
                _attention.Set(this, l, batch);
                Pool.Run(_attention);
                t = ForwardProfile.Stop(ForwardProfile.Phase.Attention, t);
            }
            t = woInput != null ? MatMulQuantized(layer.Wo, woInput, n, _xn, ForwardProfile.Phase.MatMulO, t)
                                : MatMul(layer.Wo, _attn, n, _xn, ForwardProfile.Phase.MatMulO, t);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * h), new ReadOnlySpan<float>(_xn, n * h), new Span<float>(_x, n * h));
            t = ForwardProfile.Stop(ForwardProfile.Phase.Residual, t);

            // feed-forward block: qwen2moe's experts (Qwen2MoeForward.cs, which adds to _x itself), or SwiGLU
            if (layer.Moe != null)
            {
                RmsNorm(_x, layer.FfnNorm, _xn, n);
                MoeFeedForward(layer.Moe, n);
                t = ForwardProfile.Stop(ForwardProfile.Phase.Moe, t);
                continue;
            }
            byte* downInput = _act;
            if (n == 1 && FusedDecodeGateUp && plan.GateUp)
            {
                // one entry: (the norm,) gate, up, SwiGLU and quantization, each thread on its own rows (DecodeGateUpJob.cs)
                _threadInputs.Set(_x, layer.FfnNorm, _c.RmsNormEps, layer.WGate.Type);
                _decodeGateUp.Set(layer.WGate, _gate, layer.WUp, _up, _threadInputs, layer.WDown.Type, _decodeAct);
                Pool.Run(_decodeGateUp);
                FusedGateUpRuns++;
                downInput = _decodeAct;
                t = ForwardProfile.Stop(ForwardProfile.Phase.MatMulGateUp, t);
            }
            else
            {
                NormQuantize(layer.FfnNorm, n, layer.WGate.Type);
                t = ForwardProfile.Stop(ForwardProfile.Phase.Norm, t);
                t = MatMulGroup(layer.WGate, _gate, layer.WUp, _up, n, ForwardProfile.Phase.MatMulGateUp, t);
                _swiGlu.Set(_gate, _up, f, n, layer.WDown.Type, _act);
                RunRows(_swiGlu, n);
                t = ForwardProfile.Stop(ForwardProfile.Phase.SwiGlu, t);
            }
            t = MatMulQuantized(layer.WDown, downInput, n, _xn, ForwardProfile.Phase.MatMulDown, t);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * h), new ReadOnlySpan<float>(_xn, n * h), new Span<float>(_x, n * h));
            t = ForwardProfile.Stop(ForwardProfile.Phase.Residual, t);
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
            MatMul(w.Output, _xn, outputs, logits, ForwardProfile.Phase.Output, t);
        _outputCount += outputs;
    }

    /// <summary>output[b, :] = W · input[b, :] for b in [0, n): quantize the inputs to the weight's dot type once,
    /// then split W's rows across the pool.</summary>
    private long MatMul(in WeightMatrix weight, float* input, int n, float* output, ForwardProfile.Phase phase, long t)
    {
        _quantize.Set(weight.Type, input, weight.Cols, n, _act);
        RunRows(_quantize, n);
        t = ForwardProfile.Stop(ForwardProfile.Phase.Quantize, t);
        return MatMulQuantized(weight, _act, n, output, phase, t);
    }

    /// <summary>output[b, :] = W · input[b, :] for b in [0, n), the inputs already quantized to W's dot type in act.</summary>
    private long MatMulQuantized(in WeightMatrix weight, byte* act, int n, float* output, ForwardProfile.Phase phase, long t)
    {
        _matMul.Set(weight, act, n, output);
        Pool.Run(_matMul);
        return ForwardProfile.Stop(phase, t);
    }

    /// <summary>_xn = RmsNorm(_x) ⊙ weight for n rows, and _act = _xn quantized for weights of <paramref name="weightType"/>.</summary>
    private void NormQuantize(float[] weight, int n, GgmlType weightType)
    {
        _normQuantize.Set(_x, weight, _c.RmsNormEps, _c.HiddenSize, n, _xn, weightType, _act);
        RunRows(_normQuantize, n);
    }

    /// <summary>Weights that read the same input (quantized in _act by the step before) as one job, when they share
    /// an activation type; otherwise one quantize + matmul each from the floats in _xn.</summary>
    private long MatMulGroup(in WeightMatrix a, float* outA, in WeightMatrix b, float* outB, int n, ForwardProfile.Phase phase, long t)
    {
        if (VecDot.ActivationType(a.Type) != VecDot.ActivationType(b.Type))
        {
            t = MatMul(a, _xn, n, outA, phase, t);
            return MatMul(b, _xn, n, outB, phase, t);
        }
        _matMulGroup.Set(_act, n, a, outA, b, outB);
        Pool.Run(_matMulGroup);
        return ForwardProfile.Stop(phase, t);
    }

    private long MatMulGroup(in WeightMatrix a, float* outA, in WeightMatrix b, float* outB, in WeightMatrix c, float* outC,
                             int n, ForwardProfile.Phase phase, long t)
    {
        var type = VecDot.ActivationType(a.Type);
        if (type != VecDot.ActivationType(b.Type) || type != VecDot.ActivationType(c.Type))
        {
            t = MatMul(a, _xn, n, outA, phase, t);
            t = MatMul(b, _xn, n, outB, phase, t);
            return MatMul(c, _xn, n, outC, phase, t);
        }
        _matMulGroup.Set(_act, n, a, outA, b, outB, c, outC);
        Pool.Run(_matMulGroup);
        return ForwardProfile.Stop(phase, t);
    }

    /// <summary>x = the embedding's row for token: read in place, or (a tied embedding repacked for the output
    /// matmul) copied out into the context's row buffer first.</summary>
    private void EmbeddingRow(in WeightMatrix embedding, int token, Span<float> x)
    {
        int rowBytes = (int)embedding.RowBytes;
        if (embedding.Layout == WeightLayout.Rows) Dequantize.Row(embedding.Type, new ReadOnlySpan<byte>(embedding.Row(token), rowBytes), x);
        else
        {
            embedding.CopyRow(token, _embeddingRow);
            Dequantize.Row(embedding.Type, _embeddingRow.AsSpan(0, rowBytes), x);
        }
    }

    /// <summary>A row-parallel element-wise job: on the pool for a batch, inline for a few rows (a decode step), where a
    /// barrier would cost more than the work.</summary>
    private void RunRows(ComputeJob job, int rows)
    {
        if (rows < InlineRowLimit)
        {
            job.BeginRun();
            job.Execute(0, 1);
        }
        else Pool.Run(job);
    }

    private const int InlineRowLimit = 4;

    /// <summary>One entry's q/k/v: biases, RoPE on q and k, k and v into the cache.</summary>
    internal void FinishQkvRow(Qwen2LayerWeights layer, int layerIndex, BatchEntry e, int b) =>
        FinishQkvHeads(layer, layerIndex, e, b, 0, _c.KvHeadCount);

    /// <summary><see cref="FinishQkvRow"/> for KV heads [kvStart, kvEnd) and the query heads that read them only
    /// (element-wise, so the same bits as the whole row).</summary>
    internal void FinishQkvHeads(Qwen2LayerWeights layer, int layerIndex, BatchEntry e, int b, int kvStart, int kvEnd)
    {
        int h = _c.HiddenSize, kv = _c.KvDim, d = _c.HeadDim, group = _c.HeadsPerKvHead;
        int q0 = kvStart * group * d, qCount = (kvEnd - kvStart) * group * d, k0 = kvStart * d, kCount = (kvEnd - kvStart) * d;
        var q = new Span<float>(_q + (long)b * h + q0, qCount);
        var k = new Span<float>(_k + (long)b * kv + k0, kCount);
        var v = new Span<float>(_v + (long)b * kv + k0, kCount);
        TensorPrimitives.Add(q, layer.Bq.AsSpan(q0, qCount), q);
        TensorPrimitives.Add(k, layer.Bk.AsSpan(k0, kCount), k);
        TensorPrimitives.Add(v, layer.Bv.AsSpan(k0, kCount), v);
        ApplyRope(_q + (long)b * h + q0, (kvEnd - kvStart) * group, b);
        ApplyRope(_k + (long)b * kv + k0, kvEnd - kvStart, b);
        StoreKv(layerIndex, e, b, kvStart, kvEnd);
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
    internal static void SwiGlu(Span<float> gate, Span<float> up)
    {
        TensorPrimitives.Multiply(up, gate, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, gate);
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
        // Lane-wise the same fused operations as the scalar loop (RotateHeadScalar), so the same bits; 16, 8, 4 pairs
        // at a time where the hardware fuses (scalar: ~0.8 µs per layer of 0.5B's 32 heads, a serial step of decode).
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Fma.IsSupported)
            for (; i + 16 <= half; i += 16)
            {
                var x0 = Vector512.Load(v + i);
                var x1 = Vector512.Load(v + i + half);
                var c = Vector512.Load(cos + i);
                var s = Vector512.Load(sin + i);
                Vector512.FusedMultiplyAdd(x0, c, -(x1 * s)).Store(v + i);
                Vector512.FusedMultiplyAdd(x0, s, x1 * c).Store(v + i + half);
            }
        if (Vector256.IsHardwareAccelerated && Fma.IsSupported)
            for (; i + 8 <= half; i += 8)
            {
                var x0 = Vector256.Load(v + i);
                var x1 = Vector256.Load(v + i + half);
                var c = Vector256.Load(cos + i);
                var s = Vector256.Load(sin + i);
                Vector256.FusedMultiplyAdd(x0, c, -(x1 * s)).Store(v + i);
                Vector256.FusedMultiplyAdd(x0, s, x1 * c).Store(v + i + half);
            }
        if (Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.IsSupported))
            for (; i + 4 <= half; i += 4)
            {
                var x0 = Vector128.Load(v + i);
                var x1 = Vector128.Load(v + i + half);
                var c = Vector128.Load(cos + i);
                var s = Vector128.Load(sin + i);
                Vector128.FusedMultiplyAdd(x0, c, -(x1 * s)).Store(v + i);
                Vector128.FusedMultiplyAdd(x0, s, x1 * c).Store(v + i + half);
            }
        RotateHeadScalar(v + i, cos + i, sin + i, half - i, half);
    }

    /// <summary>The scalar twin of <see cref="RotateHead"/> (and its tail): pairs (v[i], v[i + stride]) for i in [0, count).</summary>
    internal static void RotateHeadScalar(float* v, float* cos, float* sin, int count, int stride)
    {
        for (int i = 0; i < count; i++)
        {
            float x0 = v[i], x1 = v[i + stride];
            v[i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
            v[i + stride] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
        }
    }

    /// <summary>The entry's keys and values into the cache, head by head.</summary>
    private void StoreKv(int layer, BatchEntry e, int b, int kvStart, int kvEnd)
    {
        int kv = _c.KvDim, d = _c.HeadDim;
        for (int head = kvStart; head < kvEnd; head++)
            Cache.Store(layer, e.Sequence, head, e.Position, _k + (long)b * kv + head * d, _v + (long)b * kv + head * d);
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

using System.Numerics.Tensors;
using QwenSharp.Tensors;

namespace QwenSharp.Models;

public sealed unsafe partial class Qwen2Context
{
    private MoeFeedForward? _moe;

    /// <summary>x += MoE(xn) for the chunk's n rows (qwen2moe layers; see <see cref="MoeFeedForward"/>).</summary>
    private void MoeFeedForward(Qwen2MoeLayerWeights layer, int n)
    {
        _moe ??= new MoeFeedForward(Model, MaxBatch); // once per context, on the first forward pass
        _moe.Run(Pool, layer, _xn, n, _x);
    }
}

/// <summary>
/// The qwen2moe feed-forward block (../shared/specs/QWEN15.md §2) for a chunk of n tokens:
/// <code>
///   p = softmax_fp32(h·Routerᵀ)                      over all experts
///   (w, idx) = top-k(p)                              w /= Σw only when norm_topk_prob
///   y = Σ_j w_j · Down_idx_j(silu(Gate_idx_j·h) ⊙ Up_idx_j·h)
///   y += sigmoid(h·w_sg) · SharedDown(silu(SharedGate·h) ⊙ SharedUp·h)
/// </code>
/// Tokens are grouped by expert (a counting sort of the n·k choices), each chosen expert's rows then multiply all of
/// its tokens in one batched matmul, and results are scattered back, summed per token in top-k order as llama.cpp
/// does. Experts nobody chose are never read, so a decode step streams k of the E experts' bytes. Every buffer is
/// sized at construction for the largest chunk: the per-token path allocates nothing.
/// </summary>
internal sealed unsafe class MoeFeedForward
{
    private const int MaxInputTypes = 5; // router, expert gate/up, shared gate/up

    private readonly int _h, _experts, _used, _fe, _fs;
    private readonly bool _normTopK;
    private readonly float[] _probs;           // [E] one token's router softmax
    private readonly int[] _chosen;            // [B·k] expert of choice j of token b, in top-k order
    private readonly float[] _chosenWeight;    // [B·k]
    private readonly int[] _groupedRow;        // [B·k] row of choice (b, j) in the expert-grouped order
    private readonly int[] _groupedToken;      // [B·k] token of each grouped row
    private readonly int[] _expertCount;       // [E]
    private readonly int[] _expertStart;       // [E + 1]
    private readonly GgmlType[] _inputTypes = new GgmlType[MaxInputTypes];
    private readonly byte*[] _inputSlots = new byte*[MaxInputTypes]; // quantized h, one slot per distinct dot type
    private readonly byte* _gatheredGate, _gatheredUp; // [B·k, in bytes] input rows copied into grouped order
    private readonly float* _routerLogits;     // [B, E]
    private readonly float* _gate, _up;        // [B·k, Fe]
    private readonly byte* _mid;               // [B·k, mid bytes] silu(gate)·up quantized for the down projections
    private readonly float* _down;             // [B·k, H]
    private readonly float* _sharedGate, _sharedUp; // [B, Fs]
    private readonly byte* _sharedMid;         // [B, shared mid bytes]
    private readonly float* _sharedDown;       // [B, H]
    private readonly float[] _sum;             // [H] one token's combined output
    private readonly List<Array> _pinned = [];  // keeps the pinned arrays behind the pointers alive

    private readonly MultiQuantizeJob _quantize = new();
    private readonly SegmentedMatMulJob _router = new(1);
    private readonly SegmentedMatMulJob _gateUp;
    private readonly SegmentedMatMulJob _downs;
    private readonly MoeSwiGluQuantizeJob _swiGlu = new();

    public MoeFeedForward(Qwen2Model model, int maxBatch)
    {
        var c = model.Config;
        var moe = c.Moe ?? throw new ArgumentException("not an MoE model", nameof(model));
        _h = c.HiddenSize; _experts = moe.ExpertCount; _used = moe.ExpertUsedCount;
        _fe = moe.ExpertFeedForwardSize; _fs = moe.SharedFeedForwardSize; _normTopK = moe.NormTopKProb;
        int b = maxBatch, bk = checked(maxBatch * _used);

        // Row sizes for the widest dot types any layer uses (F32 weights keep fp32 activations: 4 bytes each).
        long input = 0, mid = 0, sharedMid = 0;
        foreach (var layer in model.Weights.Layers)
        {
            var m = layer.Moe!;
            foreach (var w in new[] { m.Router, m.ExpertGate[0], m.ExpertUp[0], m.SharedGate, m.SharedUp })
                input = Math.Max(input, VecDot.ActivationRowBytes(w.Type, _h));
            foreach (var w in m.ExpertDown) mid = Math.Max(mid, VecDot.ActivationRowBytes(w.Type, _fe));
            sharedMid = Math.Max(sharedMid, VecDot.ActivationRowBytes(m.SharedDown.Type, _fs));
        }

        _probs = new float[_experts];
        _chosen = new int[bk];
        _chosenWeight = new float[bk];
        _groupedRow = new int[bk];
        _groupedToken = new int[bk];
        _expertCount = new int[_experts];
        _expertStart = new int[_experts + 1];
        _sum = new float[_h];
        for (int i = 0; i < MaxInputTypes; i++) _inputSlots[i] = Bytes(b * input);
        _gatheredGate = Bytes(bk * input);
        _gatheredUp = Bytes(bk * input);
        _routerLogits = Floats((long)b * _experts);
        _gate = Floats((long)bk * _fe);
        _up = Floats((long)bk * _fe);
        _mid = Bytes(bk * mid);
        _down = Floats((long)bk * _h);
        _sharedGate = Floats((long)b * _fs);
        _sharedUp = Floats((long)b * _fs);
        _sharedMid = Bytes(b * sharedMid);
        _sharedDown = Floats((long)b * _h);
        _gateUp = new SegmentedMatMulJob(2 * _experts + 2);
        _downs = new SegmentedMatMulJob(_experts + 1);
    }

    /// <summary>x[b] += MoE(xn[b]) for b in [0, n).</summary>
    public void Run(ComputePool pool, Qwen2MoeLayerWeights w, float* xn, int n, float* x)
    {
        // 1. h quantized once per distinct dot type (router, expert and shared projections may differ in a mix).
        int slots = 0;
        _quantize.Set(xn, _h, n);
        byte* routerIn = Input(w.Router.Type, ref slots), gateIn = Input(w.ExpertGate[0].Type, ref slots);
        byte* upIn = Input(w.ExpertUp[0].Type, ref slots);
        byte* sharedGateIn = Input(w.SharedGate.Type, ref slots), sharedUpIn = Input(w.SharedUp.Type, ref slots);
        RunSmall(pool, _quantize, n * _h);

        // 2. Router logits, then per token softmax and top-k, then a counting sort of the choices by expert.
        _router.Clear();
        _router.Add(w.Router, routerIn, n, _routerLogits);
        RunSmall(pool, _router, n * _experts * _h);
        Route(n);

        // 3. The chosen experts' gate and up projections, each over its own tokens, plus the shared expert's.
        long inBytes = VecDot.ActivationRowBytes(w.ExpertGate[0].Type, _h), upBytes = VecDot.ActivationRowBytes(w.ExpertUp[0].Type, _h);
        int rows = n * _used;
        byte* gatheredUp = upIn == gateIn ? _gatheredGate : _gatheredUp; // same dot type: gather once
        for (int r = 0; r < rows; r++)
        {
            int token = _groupedToken[r];
            Buffer.MemoryCopy(gateIn + token * inBytes, _gatheredGate + r * inBytes, inBytes, inBytes);
            if (gatheredUp != _gatheredGate) Buffer.MemoryCopy(upIn + token * upBytes, gatheredUp + r * upBytes, upBytes, upBytes);
        }
        _gateUp.Clear();
        for (int e = 0; e < _experts; e++)
        {
            int start = _expertStart[e], count = _expertCount[e];
            _gateUp.Add(w.ExpertGate[e], _gatheredGate + start * inBytes, count, _gate + (long)start * _fe);
            _gateUp.Add(w.ExpertUp[e], gatheredUp + start * upBytes, count, _up + (long)start * _fe);
        }
        _gateUp.Add(w.SharedGate, sharedGateIn, n, _sharedGate);
        _gateUp.Add(w.SharedUp, sharedUpIn, n, _sharedUp);
        pool.Run(_gateUp);

        // 4. silu(gate)·up, quantized for the down projections (the experts of one stacked tensor share its type).
        var downType = w.ExpertDown[0].Type;
        long midBytes = VecDot.ActivationRowBytes(downType, _fe);
        _swiGlu.Set(0, _gate, _up, rows, _fe, downType, _mid);
        _swiGlu.Set(1, _sharedGate, _sharedUp, n, _fs, w.SharedDown.Type, _sharedMid);
        RunSmall(pool, _swiGlu, rows * _fe + n * _fs);

        // 5. Down projections.
        _downs.Clear();
        for (int e = 0; e < _experts; e++)
            _downs.Add(w.ExpertDown[e], _mid + _expertStart[e] * midBytes, _expertCount[e], _down + (long)_expertStart[e] * _h);
        _downs.Add(w.SharedDown, _sharedMid, n, _sharedDown);
        pool.Run(_downs);

        // 6. Per token: weighted expert outputs summed in top-k order, plus the gated shared expert, onto x.
        var sum = _sum.AsSpan();
        for (int t = 0; t < n; t++)
        {
            for (int j = 0; j < _used; j++)
            {
                var expertOut = new ReadOnlySpan<float>(_down + (long)_groupedRow[t * _used + j] * _h, _h);
                if (j == 0) TensorPrimitives.Multiply(expertOut, _chosenWeight[t * _used], sum);
                else TensorPrimitives.MultiplyAdd(expertOut, _chosenWeight[t * _used + j], sum, sum);
            }
            float gateLogit = TensorPrimitives.Dot(new ReadOnlySpan<float>(xn + (long)t * _h, _h), w.SharedGateInput);
            float sharedScale = 1f / (1f + MathF.Exp(-gateLogit));
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_sharedDown + (long)t * _h, _h), sharedScale, sum, sum);
            var xRow = new Span<float>(x + (long)t * _h, _h);
            TensorPrimitives.Add(xRow, sum, xRow);
        }
    }

    /// <summary>Runs a job on the calling thread alone when it is too small to pay for waking the pool (a decode
    /// step's quantization, router and SwiGLU are a few thousand elements).</summary>
    private static void RunSmall(ComputePool pool, ComputeJob job, long elements)
    {
        if (elements < 1 << 17) job.Execute(0, 1);
        else pool.Run(job);
    }

    /// <summary>The slot holding h quantized for <paramref name="weightType"/>'s dot type, queued for quantization the
    /// first time that dot type is asked for in this run.</summary>
    private byte* Input(GgmlType weightType, ref int slots)
    {
        var dotType = VecDot.ActivationType(weightType);
        for (int i = 0; i < slots; i++)
            if (VecDot.ActivationType(_inputTypes[i]) == dotType) return _inputSlots[i];
        _inputTypes[slots] = weightType;
        _quantize.Add(weightType, _inputSlots[slots]);
        return _inputSlots[slots++];
    }

    /// <summary>Softmax over all experts in fp32, top-k (ties to the lower expert id), optional renormalisation, then
    /// the grouping: expert e's tokens occupy grouped rows [start(e), start(e) + count(e)), in token order.</summary>
    private void Route(int n)
    {
        Array.Clear(_expertCount);
        for (int t = 0; t < n; t++)
        {
            var chosen = _chosen.AsSpan(t * _used, _used);
            SelectExperts(new ReadOnlySpan<float>(_routerLogits + (long)t * _experts, _experts), _probs, chosen,
                _chosenWeight.AsSpan(t * _used, _used), _normTopK);
            foreach (int e in chosen) _expertCount[e]++;
        }
        _expertStart[0] = 0;
        for (int e = 0; e < _experts; e++) _expertStart[e + 1] = _expertStart[e] + _expertCount[e];
        Array.Clear(_expertCount); // refilled below as the fill cursor of each expert
        for (int i = 0; i < n * _used; i++)
        {
            int e = _chosen[i], row = _expertStart[e] + _expertCount[e]++;
            _groupedRow[i] = row;
            _groupedToken[row] = i / _used;
        }
    }

    /// <summary>One token's routing: softmax over every expert's logit, the k most probable experts and their
    /// probabilities as weights, renormalised to sum to 1 when <paramref name="normalize"/> (norm_topk_prob).</summary>
    internal static void SelectExperts(ReadOnlySpan<float> logits, Span<float> probs, Span<int> chosen, Span<float> weights, bool normalize)
    {
        Softmax(logits, probs);
        TopK(probs, chosen, weights);
        if (!normalize) return;
        float total = TensorPrimitives.Sum(weights);
        TensorPrimitives.Divide(weights, total, weights);
    }

    /// <summary>p = exp(l − max) / Σ exp(l − max), the sum accumulated in double as ggml's soft_max does.</summary>
    internal static void Softmax(ReadOnlySpan<float> logits, Span<float> p)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            p[i] = MathF.Exp(logits[i] - max);
            sum += p[i];
        }
        TensorPrimitives.Multiply(p, (float)(1.0 / sum), p);
    }

    /// <summary>The k largest probabilities in descending order (selection: k is small).</summary>
    internal static void TopK(ReadOnlySpan<float> p, Span<int> index, Span<float> value)
    {
        for (int j = 0; j < index.Length; j++)
        {
            int best = -1;
            for (int e = 0; e < p.Length; e++)
            {
                if (best >= 0 && !(p[e] > p[best])) continue;
                if (index[..j].Contains(e)) continue;
                best = e;
            }
            index[j] = best;
            value[j] = p[best];
        }
    }

    private byte* Bytes(long length)
    {
        var array = GC.AllocateArray<byte>(checked((int)Math.Max(length, 1)), pinned: true);
        _pinned.Add(array);
        fixed (byte* p = array) return p; // pinned: the address stays valid after `fixed`
    }

    private float* Floats(long length)
    {
        var array = GC.AllocateArray<float>(checked((int)Math.Max(length, 1)), pinned: true);
        _pinned.Add(array);
        fixed (float* p = array) return p;
    }
}

using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>How a <see cref="Qwen2Context"/> is sized. Everything is allocated once, at construction.</summary>
public sealed record ContextOptions
{
    /// <summary>Positions per sequence; 0 = min(the model's trained context, 4096).</summary>
    public int ContextLength { get; init; }
    /// <summary>Sequences that can be decoded together (the server's parallel slots).</summary>
    public int MaxSequences { get; init; } = 1;
    /// <summary>Tokens per forward pass; longer prompts are processed in chunks of this size.</summary>
    public int MaxBatch { get; init; } = 512;
    /// <summary>Compute threads; 0 = physical cores.</summary>
    public int Threads { get; init; }
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;
    /// <summary>Bytes of RAM the context may take; null = detect (<see cref="AvailableMemory.Detect"/>). Creation
    /// fails before allocating when the KV cache and buffers need more.</summary>
    public long? AvailableMemoryBytes { get; init; }
}

/// <summary>The mutable half of inference: KV cache, activation buffers sized for one batch, the thread pool and the
/// logits of the last forward pass. One context serves one caller at a time. The forward pass is Qwen2Forward.cs.</summary>
public sealed unsafe partial class Qwen2Context : IDisposable
{
    public Qwen2Model Model { get; }
    public KvCache Cache { get; }
    public ComputePool Pool { get; }
    public int ContextLength { get; }
    public int MaxBatch { get; }

    private readonly Qwen2Config _c;

    // Activation buffers for one chunk of B <= MaxBatch tokens, pinned so jobs can hold raw pointers. Shapes:
    private readonly float* _x;       // [B, H]  residual stream
    private readonly float* _xn;      // [B, H]  normed input of a sub-layer, then its output
    private readonly float* _q;       // [B, H]
    private readonly float* _k;       // [B, KvDim]
    private readonly float* _v;       // [B, KvDim]
    private readonly float* _attn;    // [B, H]  concatenated head outputs
    private readonly float* _gate;    // [B, F]
    private readonly float* _up;      // [B, F]
    private readonly float* _ropeCos; // [B, HeadDim/2]
    private readonly float* _ropeSin; // [B, HeadDim/2]
    private readonly byte* _act;      // [B, activation row bytes]  the matmul input quantized to the weight's dot type
    private readonly byte* _decodeAct; // [activation row bytes of max(H, F)]  a decode step's Wo or down input, written by
                                       // a fused job while its threads may still read _act
    private readonly float[][] _buffers; // keeps the pinned arrays above alive

    // Logits of the entries that asked for them, in batch order: [outputs, V]. Grows (rarely) to the largest request.
    private float[] _logits = [];
    private int _outputCount;
    private readonly int[] _outputRows; // [MaxBatch] chunk-local row of each wanted entry
    private readonly byte[] _embeddingRow; // [RowBytes of the embedding] a repacked embedding's row, copied out
    private readonly int[] _lengthCheck; // [MaxSequences] scratch for batch validation

    private readonly MatMulJob _matMul;
    private readonly QuantizeJob _quantize = new();
    private readonly NormQuantizeJob _normQuantize = new();
    private readonly SwiGluQuantizeJob _swiGlu = new();
    private readonly QkvFinishJob _qkvFinish = new();
    private readonly MatMulGroupJob _matMulGroup = new();
    private readonly AttentionJob _attention;
    private readonly DecodeAttentionJob _decodeAttention;
    private readonly DecodeGateUpJob _decodeGateUp;
    private readonly ThreadInputs _threadInputs;
    private readonly DecodeLayerPlan[] _decodePlan;   // per layer: which single-entry jobs its shapes and the threads allow

    /// <summary>Single-entry steps run each layer's attention block as one job (<see cref="DecodeAttentionJob"/>);
    /// false sends them through the general three-step path, for tests that hold one against the other.</summary>
    internal bool FusedDecodeAttention { get; set; } = true;

    /// <summary>Layers run through <see cref="DecodeAttentionJob"/> so far.</summary>
    internal long FusedAttentionRuns { get; private set; }

    /// <summary>Layers whose Wo input <see cref="DecodeAttentionJob"/> quantized so far.</summary>
    internal long FusedWoInputRuns { get; private set; }

    /// <summary>Single-entry steps run each layer's gate, up, SwiGLU and quantization as one job
    /// (<see cref="DecodeGateUpJob"/>); false: the general path, for tests that hold one against the other.</summary>
    internal bool FusedDecodeGateUp { get; set; } = true;

    /// <summary>Layers run through <see cref="DecodeGateUpJob"/> so far.</summary>
    internal long FusedGateUpRuns { get; private set; }

    public Qwen2Context(Qwen2Model model, ContextOptions? options = null)
    {
        options ??= new ContextOptions();
        Model = model;
        _c = model.Config;
        ContextLength = options.ContextLength > 0 ? options.ContextLength : Math.Min(_c.ContextLength, 4096);
        if (options.MaxSequences < 1 || options.MaxBatch < 1)
            throw new QwenSharpException("a context needs at least one sequence and a batch of at least one token");
        MaxBatch = options.MaxBatch;
        AvailableMemory.Require(MemoryPlan.ForFile(model.Source, _c, ContextLength, options.KvCacheType, options.MaxSequences, MaxBatch).ContextBytes,
            $"a {ContextLength}-token context ({options.MaxSequences} sequence(s), {options.KvCacheType} KV cache)",
            options.KvCacheType == KvCacheType.F32 ? "Lower the context length (--ctx), use the f16 KV cache, or free memory."
                : "Lower the context length (--ctx) or free memory.", options.AvailableMemoryBytes);
        Cache = new KvCache(_c.LayerCount, options.MaxSequences, ContextLength, _c.KvHeadCount, _c.HeadDim, options.KvCacheType);
        Pool = new ComputePool(options.Threads > 0 ? options.Threads : ComputePool.DefaultThreadCount);

        int b = MaxBatch, h = _c.HiddenSize, f = _c.FeedForwardSize, kv = _c.KvDim, half = _c.HeadDim / 2;
        long actFloats = (long)b * Math.Max(h, f) + 64; // F32 rows are the widest activation encoding
        var sizes = new long[] { b * h, b * h, b * h, b * kv, b * kv, b * h, b * f, b * f, b * half, b * half, actFloats, Math.Max(h, f) + 64 };
        _buffers = new float[sizes.Length][];
        var ptrs = new float*[sizes.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            _buffers[i] = GC.AllocateArray<float>(checked((int)sizes[i]), pinned: true);
            fixed (float* p = _buffers[i]) ptrs[i] = p; // pinned: the address stays valid after `fixed`
        }
        _x = ptrs[0]; _xn = ptrs[1]; _q = ptrs[2]; _k = ptrs[3]; _v = ptrs[4];
        _attn = ptrs[5]; _gate = ptrs[6]; _up = ptrs[7]; _ropeCos = ptrs[8]; _ropeSin = ptrs[9];
        _act = (byte*)ptrs[10];
        _decodeAct = (byte*)ptrs[11];
        _embeddingRow = new byte[checked((int)model.Weights.TokenEmbedding.RowBytes)];
        _outputRows = new int[MaxBatch];
        _lengthCheck = new int[options.MaxSequences];
        _attention = new AttentionJob(Pool.ThreadCount, ContextLength, _c.HeadDim, MaxBatch, _c.HeadCount, _c.KvHeadCount, options.KvCacheType == KvCacheType.F16);
        _matMul = new MatMulJob(Pool.ThreadCount);
        _decodeAttention = new DecodeAttentionJob(Pool.ThreadCount, _attention);
        _decodeGateUp = new DecodeGateUpJob(Pool.ThreadCount);
        _threadInputs = new ThreadInputs(Pool.ThreadCount, h);
        _decodePlan = new DecodeLayerPlan[_c.LayerCount];
        for (int l = 0; l < _c.LayerCount; l++)
        {
            var layer = model.Weights.Layers[l];
            bool attention = DecodeAttentionJob.Fits(_c, layer, Pool.ThreadCount);
            _decodePlan[l] = new DecodeLayerPlan(attention, attention && DecodeAttentionJob.QuantizesWoInput(_c, layer, Pool.ThreadCount),
                                                 layer.Moe == null && DecodeGateUpJob.Fits(layer, Pool.ThreadCount));
        }
    }

    /// <summary>Number of logit rows the last <see cref="Decode"/> produced.</summary>
    public int OutputCount => _outputCount;

    /// <summary>Logits of the <paramref name="output"/>-th entry (in batch order) that asked for them.</summary>
    public ReadOnlySpan<float> Logits(int output)
    {
        if ((uint)output >= (uint)_outputCount) throw new ArgumentOutOfRangeException(nameof(output));
        return _logits.AsSpan(output * _c.VocabSize, _c.VocabSize);
    }

    public void Dispose()
    {
        Pool.Dispose();
        Cache.Dispose();
    }
}

public sealed unsafe partial class Qwen2Context
{
    internal float* QueryRow(int b) => _q + (long)b * _c.HiddenSize;
    internal float* AttentionRow(int b) => _attn + (long)b * _c.HiddenSize;
    internal float* KeyRow(int b) => _k + (long)b * _c.KvDim;
    internal float* ValueRow(int b) => _v + (long)b * _c.KvDim;
}

/// <summary>Which single-entry decode jobs a layer can take (decided once, from its shapes and the thread count):
/// the attention job, with it the Wo-input quantization, and the gate/up job.</summary>
internal readonly record struct DecodeLayerPlan(bool Attention, bool WoInput, bool GateUp);

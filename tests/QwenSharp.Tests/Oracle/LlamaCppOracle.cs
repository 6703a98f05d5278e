using System.Collections.Concurrent;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Extensions;
using LLama.Native;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Oracle;

/// <summary>
/// llama.cpp (through LLamaSharp's CPU build) as the reference our engine is compared with in tests.
/// Every call loads the model afresh, so calls are independent; they are serialised because llama.cpp's
/// backend and our log capture are process-wide. llama.cpp's log output is captured rather than printed, and the
/// recent lines are put into the exception message when something fails.
/// </summary>
internal static class LlamaCppOracle
{
    private static readonly object Gate = new();
    static LlamaCppOracle() => LlamaCppNative.Initialize();

    /// <summary>The last lines llama.cpp logged, newest last.</summary>
    public static string RecentLog(int lines = 20) => LlamaCppNative.RecentLog(lines);

    /// <summary>Path of the libllama.so this process loaded (shows which CPU variant: avx512, avx2, avx, noavx).</summary>
    public static string LoadedLibrary()
    {
        lock (Gate) return LlamaCppNative.LoadedLibraryPath() ?? (OperatingSystem.IsLinux() ? "not found in /proc/self/maps" : "unknown (not Linux)");
    }

    /// <summary>Logits for every position of <paramref name="tokens"/>, evaluated as one batch (one ubatch) with
    /// an F32 KV cache and flash attention off, so an F32 model is compared without cache rounding.</summary>
    public static float[][] Logits(string ggufPath, IReadOnlyList<int> tokens, int threads = 2) =>
        Logits(ggufPath, tokens, LlamaCppEvaluation.OneBatch, threads);

    /// <summary>Logits for every position of <paramref name="tokens"/> evaluated the way <paramref name="evaluation"/>
    /// says (F32 KV cache, flash attention off). llama.cpp's CPU backend uses other matrix kernels for a batch of two
    /// tokens or more (llamafile's tinyBLAS for F32/F16/BF16/Q8_0/Q4_0/Q5_0 weights) than for one token (ggml's
    /// vec_dot), and weight repacking (interleaved Q4_0/Q4_K/Q2_K... layouts) changes the kernels of both.</summary>
    public static float[][] Logits(string ggufPath, IReadOnlyList<int> tokens, LlamaCppEvaluation evaluation, int threads = 2)
    {
        if (tokens.Count == 0) throw new ArgumentException("no tokens", nameof(tokens));
        lock (Gate)
        {
            ModelParams p = Params(ggufPath, tokens.Count, threads);
            using SafeLlamaModelHandle model = LoadModel(p, evaluation.RepacksWeights());
            p.ToLlamaContextParams(out LLamaContextParams contextParams);
            using SafeLLamaContextHandle context = model.CreateContext(contextParams);
            int nVocab = model.Vocab.Count;
            var result = new float[tokens.Count][];
            Feed(context, tokens, evaluation, (token, row) => result[token] = LogitsRow(context, row, nVocab));
            return result;
        }
    }

    /// <summary>The graph nodes that <paramref name="wanted"/> picks (see <see cref="LlamaCppGraphCapture"/>), recorded
    /// while llama.cpp evaluates <paramref name="tokens"/> as <paramref name="evaluation"/> says; token by token, the
    /// nodes of each step follow those of the step before.</summary>
    public static List<LlamaCppNode> GraphNodes(string ggufPath, IReadOnlyList<int> tokens, LlamaCppEvaluation evaluation,
                                                Func<LlamaCppNode, bool> wanted, int threads = 2)
    {
        if (tokens.Count == 0) throw new ArgumentException("no tokens", nameof(tokens));
        lock (Gate)
        {
            ModelParams p = Params(ggufPath, tokens.Count, threads);
            using SafeLlamaModelHandle model = LoadModel(p, evaluation.RepacksWeights());
            p.ToLlamaContextParams(out LLamaContextParams contextParams);
            contextParams.cb_eval = LlamaCppGraphCapture.Callback;
            using SafeLLamaContextHandle context = model.CreateContext(contextParams);
            return LlamaCppGraphCapture.Record(wanted, () => Feed(context, tokens, evaluation, (_, _) => { }));
        }
    }

    /// <summary>Decodes <paramref name="tokens"/> (one sequence from position 0, logits for every token) in one call
    /// or one call per token; <paramref name="collect"/>(token index, logits row) runs once the token's logits exist.</summary>
    private static void Feed(SafeLLamaContextHandle context, IReadOnlyList<int> tokens, LlamaCppEvaluation evaluation, Action<int, int> collect)
    {
        var batch = new LLamaBatch();
        if (evaluation.IsOneBatch())
        {
            for (int i = 0; i < tokens.Count; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
            Decode(context, batch);
            for (int i = 0; i < tokens.Count; i++) collect(i, i);
            return;
        }
        for (int i = 0; i < tokens.Count; i++)
        {
            batch.Clear();
            batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
            Decode(context, batch);
            collect(i, 0);
        }
    }

    /// <summary>Loads the model with weight repacking (llama.cpp's CPU "extra buffer types") on or off.</summary>
    private static SafeLlamaModelHandle LoadModel(ModelParams p, bool repackWeights)
    {
        using var pinned = p.ToLlamaModelParams(out LLamaModelParams modelParams);
        modelParams.use_extra_bufts = repackWeights;
        return SafeLlamaModelHandle.LoadFromFile(p.ModelPath, modelParams);
    }

    private static float[] LogitsRow(SafeLLamaContextHandle context, int i, int nVocab)
    {
        Span<float> row = context.GetLogitsIth(i);
        if (row.Length != nVocab) throw new InvalidOperationException($"llama.cpp returned {row.Length} logits, vocabulary is {nVocab}");
        return row.ToArray();
    }

    /// <summary>Greedy decoding: the prompt as one batch, then one token at a time, each the argmax (lowest id on
    /// ties) of the previous step's logits. Returns the <paramref name="n"/> generated tokens (no early stop on eos).</summary>
    public static int[] Greedy(string ggufPath, IReadOnlyList<int> prompt, int n, int threads = 2)
    {
        if (prompt.Count == 0) throw new ArgumentException("empty prompt", nameof(prompt));
        lock (Gate)
        {
            ModelParams p = Params(ggufPath, prompt.Count + n, threads);
            using LLamaWeights weights = LLamaWeights.LoadFromFile(p);
            using LLamaContext context = weights.CreateContext(p);
            var batch = new LLamaBatch();
            for (int i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Count - 1);
            Decode(context, batch);

            var output = new int[n];
            int pos = prompt.Count;
            for (int step = 0; step < n; step++)
            {
                int next = Argmax(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
                output[step] = next;
                if (step == n - 1) break;
                batch.Clear();
                batch.Add(next, pos++, LLamaSeqId.Zero, true);
                Decode(context, batch);
            }
            return output;
        }
    }

    /// <summary>llama.cpp's tokenization of <paramref name="text"/> with the file's vocabulary
    /// (<paramref name="parseSpecial"/>: whether "&lt;|im_start|&gt;" etc. in the text become special tokens).</summary>
    public static int[] Tokenize(string ggufPath, string text, bool addBos = false, bool parseSpecial = true)
    {
        lock (Gate)
        {
            var p = new ModelParams(ggufPath) { VocabOnly = true, GpuLayerCount = 0 };
            using LLamaWeights weights = LLamaWeights.LoadFromFile(p);
            return weights.Tokenize(text, addBos, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();
        }
    }

    /// <summary>llama.cpp's own quantizer (llama_model_quantize, called directly because LLamaSharp's wrapper
    /// refuses BF16 and hides --pure). Without <paramref name="pure"/>, K-quant types map to llama.cpp's "_M" mixes
    /// (Q3_K -> Q3_K_M, Q4_K -> Q4_K_M, Q5_K -> Q5_K_M) that keep some tensors at a higher type, as published GGUFs
    /// do; with it, every matrix whose rows fit the block size gets exactly <paramref name="type"/>.</summary>
    public static void Quantize(string srcGguf, string dstGguf, GgmlType type, bool pure = false) =>
        Quantize(srcGguf, dstGguf, ToFtype(type), pure);

    public static void Quantize(string srcGguf, string dstGguf, LLamaFtype ftype, bool pure = false, int threads = 2)
    {
        lock (Gate) LlamaCppNative.Quantize(srcGguf, dstGguf, ftype, pure, threads);
    }

    public static LLamaFtype ToFtype(GgmlType type) => type switch
    {
        GgmlType.F32 => LLamaFtype.ALL_F32,
        GgmlType.F16 => LLamaFtype.MOSTLY_F16,
        GgmlType.BF16 => LLamaFtype.MOSTLY_BF16,
        GgmlType.Q8_0 => LLamaFtype.MOSTLY_Q8_0,
        GgmlType.Q4_0 => LLamaFtype.MOSTLY_Q4_0,
        GgmlType.Q4_1 => LLamaFtype.MOSTLY_Q4_1,
        GgmlType.Q5_0 => LLamaFtype.MOSTLY_Q5_0,
        GgmlType.Q5_1 => LLamaFtype.MOSTLY_Q5_1,
        GgmlType.Q2_K => LLamaFtype.MOSTLY_Q2_K,
        GgmlType.Q3_K => LLamaFtype.MOSTLY_Q3_K_M,
        GgmlType.Q4_K => LLamaFtype.MOSTLY_Q4_K_M,
        GgmlType.Q5_K => LLamaFtype.MOSTLY_Q5_K_M,
        GgmlType.Q6_K => LLamaFtype.MOSTLY_Q6_K,
        _ => throw new ArgumentException($"no llama.cpp file type for {type}"),
    };

    private static ModelParams Params(string ggufPath, int tokens, int threads)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException("model file not found", ggufPath);
        uint n = (uint)Math.Max(tokens, 1);
        return new ModelParams(ggufPath)
        {
            ContextSize = n,
            BatchSize = n,
            UBatchSize = n,   // one ubatch: the whole sequence in a single graph evaluation
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
    }

    private static void Decode(LLamaContext context, LLamaBatch batch) => Decode(context.NativeHandle, batch);

    private static void Decode(SafeLLamaContextHandle context, LLamaBatch batch)
    {
        DecodeResult r = context.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {r}:\n{RecentLog()}");
    }

    private static int Argmax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
}

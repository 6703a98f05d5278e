using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace QwenSharp.Tests.Oracle;

/// <summary>One node of llama.cpp's compute graph as it was evaluated: its name, ggml type, shape (ne), the names
/// and types of its inputs, and the values of the node and of each input where they are contiguous F32 (else null).
/// An input is read when the node has been computed: if ggml computed the node in place over that input (it may,
/// e.g. for the last RMS norm), the input shows the node's output; read such inputs from their own node instead.</summary>
internal sealed record LlamaCppNode(string Name, int Type, long[] Shape, string[] Sources, int[] SourceTypes,
                                    float[]? Values, float[]?[] SourceValues)
{
    /// <summary>A matrix multiplication by a model weight: the first input is a weight tensor of the file, the second F32
    /// activations. (Only MUL_MAT has that form in a Qwen2 graph: GET_ROWS takes I32 ids, norms and biases put the
    /// weight second.)</summary>
    public bool IsWeightMatMul => Sources.Length >= 2 && Sources[0].EndsWith(".weight", StringComparison.Ordinal)
                                  && SourceTypes[1] == 0 && Type == 0;
}

/// <summary>Records graph nodes through llama.cpp's per-node evaluation callback (llama_context_params.cb_eval,
/// ggml_backend_sched_eval_callback: <c>bool cb(struct ggml_tensor * t, bool ask, void * user_data)</c>). The
/// scheduler asks about each node (ask = true); for a yes it computes the graph up to that node and calls again
/// (ask = false) while the node's inputs and output are still in memory.</summary>
internal static unsafe class LlamaCppGraphCapture
{
    // struct ggml_tensor field offsets (ggml.h; x86-64): type @0, buffer @8, ne[4] @16, nb[4] @48, op @80,
    // op_params[16] @84, flags @148, src[10] @152, view_src @232, view_offs @240, data @248, name[64] @256.
    private const int NeOffset = 16, NbOffset = 48, SrcOffset = 152, MaxSources = 10, DataOffset = 248, NameOffset = 256, NameLength = 64;

    [ThreadStatic] private static List<LlamaCppNode>? _sink;
    [ThreadStatic] private static Func<LlamaCppNode, bool>? _wanted;
    [ThreadStatic] private static Exception? _failure;

    /// <summary>The function pointer to put in cb_eval.</summary>
    public static IntPtr Callback => (IntPtr)(delegate* unmanaged[Cdecl]<IntPtr, byte, IntPtr, byte>)&OnEval;

    /// <summary>Runs <paramref name="evaluate"/> (which must call llama_decode on this thread) and returns the nodes
    /// that <paramref name="wanted"/> accepted, in evaluation order.</summary>
    public static List<LlamaCppNode> Record(Func<LlamaCppNode, bool> wanted, Action evaluate)
    {
        _sink = [];
        _wanted = wanted;
        _failure = null;
        try
        {
            evaluate();
            if (_failure is not null) throw new InvalidOperationException("recording llama.cpp's graph failed", _failure);
            return _sink;
        }
        finally
        {
            _sink = null;
            _wanted = null;
            _failure = null;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OnEval(IntPtr tensor, byte ask, IntPtr userData)
    {
        if (_sink is null || _wanted is null || _failure is not null) return 0;
        try
        {
            var node = Describe((byte*)tensor, withValues: ask == 0);
            if (!_wanted(node)) return 0;
            if (ask == 0) _sink.Add(node);
            return 1;
        }
        catch (Exception e) // an exception must not unwind into native code: keep it for Record to throw
        {
            _failure = e;
            return 0;
        }
    }

    private static LlamaCppNode Describe(byte* t, bool withValues)
    {
        var shape = new long[4];
        for (int i = 0; i < 4; i++) shape[i] = ((long*)(t + NeOffset))[i];
        var sources = new List<string>();
        var sourceTypes = new List<int>();
        var sourceValues = new List<float[]?>();
        for (int i = 0; i < MaxSources; i++)
        {
            byte* src = ((byte**)(t + SrcOffset))[i];
            if (src == null) break;
            sources.Add(Name(src));
            sourceTypes.Add(*(int*)src);
            sourceValues.Add(withValues ? F32Values(src) : null);
        }
        int type = *(int*)t;
        return new LlamaCppNode(Name(t), type, shape, [.. sources], [.. sourceTypes], withValues ? F32Values(t) : null, [.. sourceValues]);
    }

    /// <summary>The values of a contiguous F32 tensor (nb[0] = 4, nb[i] = nb[i-1]·ne[i-1]), else null.</summary>
    private static float[]? F32Values(byte* t)
    {
        if (*(int*)t != 0) return null;
        long* ne = (long*)(t + NeOffset);
        ulong* nb = (ulong*)(t + NbOffset);
        ulong stride = 4;
        long count = 1;
        for (int i = 0; i < 4; i++)
        {
            if (ne[i] > 1 && nb[i] != stride) return null;
            stride *= (ulong)ne[i];
            count *= ne[i];
        }
        float* data = *(float**)(t + DataOffset);
        if (data == null) return null;
        return new ReadOnlySpan<float>(data, checked((int)count)).ToArray();
    }

    private static string Name(byte* t)
    {
        byte* name = t + NameOffset;
        int n = 0;
        while (n < NameLength && name[n] != 0) n++;
        return Encoding.UTF8.GetString(name, n);
    }
}

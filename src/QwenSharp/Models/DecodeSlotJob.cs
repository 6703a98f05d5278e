using QwenSharp.Tensors;

namespace QwenSharp.Models;

/// <summary>A single-entry decode job split into one slot per thread (<see cref="DecodeAttentionJob"/>,
/// <see cref="DecodeGateUpJob"/>). Each thread first gets its own input row (<see cref="ThreadInputs"/>), then tries
/// its own slot (the same every step and layer, so it keeps touching the same rows and cache lines), then the
/// others' from the far end, so a late or descheduled thread's share is done by whoever is there and the run may end
/// without it. A slot is taken by swapping the run's number into its flag, each flag on its own cache line; nothing
/// is reset between runs.</summary>
internal abstract unsafe class DecodeSlotJob : ComputeJob
{
    private readonly SlotClaims _claims;
    private ThreadInputs _inputs = null!;

    protected DecodeSlotJob(int threads)
    {
        Slots = threads;
        _claims = new SlotClaims(threads);
    }

    protected int Slots { get; }

    /// <summary>Before a run, by the calling thread: the run's input rows.</summary>
    protected void BeginSlots(ThreadInputs inputs)
    {
        _inputs = inputs;
        _claims.Begin();
    }

    protected internal override bool EveryThreadMustRun => false;

    public override void Execute(int threadIndex, int threadCount)
    {
        byte* input = _inputs.Prepare(threadIndex);
        for (int step = 0; step < Slots; step++)
        {
            int s = SlotOrder(threadIndex, Slots, step);
            if (_claims.TryTake(s, own: step == 0))
                RunSlot(threadIndex, s, input);
        }
    }

    /// <summary>Slot <paramref name="slot"/>'s work, on thread <paramref name="threadIndex"/>, from that thread's input row.</summary>
    protected abstract void RunSlot(int threadIndex, int slot, byte* input);

    /// <summary>The slot thread <paramref name="threadIndex"/> tries at its <paramref name="step"/>-th attempt: its
    /// own first, then the others from the last down.</summary>
    internal static int SlotOrder(int threadIndex, int slots, int step)
    {
        if (step == 0) return threadIndex;
        int s = slots - step;   // slots - 1, slots - 2, ... 0, skipping the own one
        return s <= threadIndex ? s - 1 : s;
    }
}

/// <summary>A run's slots, each taken by exactly one thread: a flag per slot on its own cache line, swapped to the
/// run's number, so nothing is reset between runs.</summary>
internal sealed class SlotClaims(int slots)
{
    private const int Stride = 16;   // ints: 64 bytes, one cache line per flag
    private readonly int[] _taken = new int[(slots + 1) * Stride];   // per slot: the run that took it
    private int _run;

    /// <summary>Before a run, by the calling thread.</summary>
    public void Begin() => _run++;

    /// <summary>Whether the caller takes <paramref name="slot"/> in this run. A thread's own slot is swapped at once;
    /// another's flag is read first, so a thread does not pull every line.</summary>
    public bool TryTake(int slot, bool own)
    {
        ref int flag = ref _taken[(slot + 1) * Stride];
        return (own || Volatile.Read(ref flag) != _run) && Interlocked.Exchange(ref flag, _run) != _run;
    }
}

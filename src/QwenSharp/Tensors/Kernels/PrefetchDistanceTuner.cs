namespace QwenSharp.Tensors.Kernels;

/// <summary>Chooses <see cref="Block32Rows.PrefetchAhead"/> for decode steps while they run: 4 KiB or 8 KiB, whichever
/// the steps themselves show to be faster now. Why at run time: on this project's Zen 5 machine the memory bus is
/// shared with other tenants and flips from minute to minute between about 45 and 82 GB/s for two threads, and 8 KiB
/// gains 4-5 % of a token while it is free yet loses about 3 % while it is busy (tg128, one process, rounds classed by
/// their own bandwidth probes: q4_0 1.049 / 0.973, q6_k 1.037 / 0.968; Tensors/README.md).
///
/// How: single-entry decode steps are counted in epochs of <see cref="Epoch"/>. The last <see cref="Trial"/> steps of
/// an epoch run at the other distance, the <see cref="Trial"/> before them at the current one, and the ratio of their
/// times feeds a moving average; when it falls below <see cref="SwitchBelow"/> the other distance becomes the current
/// one. A step costs the same whichever distance it reads with (prefetches never change a result), so this only moves
/// time. Exploring runs 2 steps in 32 at the other distance: while the bus is busy, 2/32 of the ~3 % such a step loses.
/// Steps of other batch sizes are not timed, and neither is a step that overlaps another context's (the timings would
/// measure each other): a step only takes part when it finds the tuner free (one compare-exchange, no lock).
///
/// Measured (2026-11-28, q4_0 0.5B, tg128 in one process, rounds of the tuner and of a fixed 4 KiB alternating, each
/// pair classed by its own bandwidth probes): 0.998 while the bus was busy (138 pairs), 1.038 while it was free (46);
/// the tuner was at 8 KiB after 57 of its 206 rounds. A fixed 8 KiB: 0.973 and 1.049. q6_k: 0.993 busy (19), 1.018
/// free (171), at 8 KiB after 186 of 236 rounds; q8_0: 1.001 busy (10), 0.995 free (83), at 4 KiB after 137 of
/// 138 (8 KiB did not pay for it then); f16 (whose kernels read the same distance; tg64): 0.998 busy (35), 1.049
/// free (83), at 8 KiB after 115 of 142.</summary>
internal sealed class PrefetchDistanceTuner
{
    public const int Near = 4096, Far = 8192;
    public const int Epoch = 32, Trial = 2;
    /// <summary>Weight of the newest epoch's ratio in the moving average.</summary>
    public const double Alpha = 0.3;
    /// <summary>Switch when the other distance's steps take less than this share of the current one's, on average: below
    /// the ratios measured on the AMD machine (0.95-0.96 to 8 KiB on a free bus, 0.97 back on a busy one), so both moves
    /// happen, and far enough below 1 that simulated ±3 % noise per step moved it 14 times in 1000 epochs of equal
    /// distances and never in 1000 with the other 3 % slower (PrefetchDistanceTunerTests).</summary>
    public const double SwitchBelow = 0.985;

    /// <summary>The one tuner of the process (the distance is one static): used by every context's decode.</summary>
    public static readonly PrefetchDistanceTuner Shared = new();

    private int _busy;   // 1 while a timed step runs
    private int _current = Near, _step;
    private long _referenceTicks, _trialTicks;
    private double _average = 1;

    public int Current => _current;
    public int Other => _current == Near ? Far : Near;

    /// <summary>Before a step of <paramref name="batch"/> entries: sets <see cref="Block32Rows.PrefetchAhead"/> for
    /// it (a single entry: the tuner's distance; a batch: <see cref="Near"/>) and returns true when the tuner times it
    /// (then <see cref="End"/> must follow).</summary>
    public bool Begin(int batch) => Begin(batch, out _);

    /// <summary><see cref="Begin(int)"/>, also giving the distance the timed step reads with.</summary>
    public bool Begin(int batch, out int distance)
    {
        distance = 0;
        if (batch != 1)
        {
            // prompts and several sequences at once: the distance they were measured with (none of the A/Bs above)
            Block32Rows.PrefetchAhead = Near;
            return false;
        }
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            Block32Rows.PrefetchAhead = _current;
            return false;
        }
        Block32Rows.PrefetchAhead = distance = _step % Epoch >= Epoch - Trial ? Other : _current;
        return true;
    }

    /// <summary>The timed step took <paramref name="ticks"/>; frees the tuner for the next step.</summary>
    public void End(long ticks)
    {
        try
        {
            int k = _step % Epoch;
            if (k >= Epoch - Trial) _trialTicks += ticks;
            else if (k >= Epoch - 2 * Trial) _referenceTicks += ticks;
            if (++_step % Epoch != 0) return;
            if (_referenceTicks > 0 && _trialTicks > 0)
            {
                _average = (1 - Alpha) * _average + Alpha * ((double)_trialTicks / _referenceTicks);
                if (_average < SwitchBelow)
                {
                    _current = Other;
                    _average = 1;
                }
            }
            _referenceTicks = _trialTicks = 0;
        }
        finally
        {
            Block32Rows.PrefetchAhead = _current;
            Volatile.Write(ref _busy, 0);
        }
    }
}

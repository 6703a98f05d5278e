namespace QwenSharp.Tensors.Kernels;

/// <summary>Chooses how decode steps prefetch their weights while they run: <see cref="Block32Rows.PrefetchAhead"/> 4, 8
/// or 16 KiB, with or without the second prefetch <see cref="Block32Rows.PrefetchFar"/> further on
/// (<see cref="Block32Rows.FarOffset"/>), among <see cref="Settings"/>, whichever the steps themselves show to be faster now. Why at run time: on
/// this project's Zen 5 machine the memory bus is shared with other tenants and flips from minute to minute between
/// about 45 and 82 GB/s for two threads, and no one setting is best in both states (the figures here are from before
/// the per-thread layout; those since, at <see cref="Settings"/>): 8 KiB gains 4-5 % of a token while
/// it is free yet loses about 3 % while it is busy (tg128, one process, rounds classed by their own bandwidth probes:
/// q4_0 1.049 / 0.973, q6_k 1.037 / 0.968), and leaving out the second prefetch gained 2-5 % on a busy bus (one
/// CCD) but lost up to 3 % on a free one (two CCDs), except for q8_0, which needs it in both (Tensors/README.md).
///
/// How: single-entry decode steps are counted in epochs of <see cref="Epoch"/>. The last <see cref="Trial"/> steps of
/// an epoch run with a challenger (the settings other than the current one, in turn, one per epoch), the
/// <see cref="Trial"/> before them with the current one, and the ratio of their times feeds that challenger's moving
/// average; when it falls below <see cref="SwitchBelow"/> the challenger becomes the current setting (and every average
/// starts again). A step computes the same whichever setting it reads with (prefetches never change a result), so this
/// only moves time. Exploring runs 2 steps in 32 with another setting: at worst 2/32 of what such a step loses.
/// Steps of other batch sizes are not timed, and neither is a step that overlaps another context's (the timings would
/// measure each other): a step only takes part when it finds the tuner free (one compare-exchange, no lock).
///
/// Measured, distance only (2026-11-28, q4_0 0.5B, tg128 in one process, rounds of the tuner and of a fixed 4 KiB
/// alternating, each pair classed by its own bandwidth probes): 0.998 while the bus was busy (138 pairs), 1.038 while
/// it was free (46); the tuner was at 8 KiB after 57 of its 206 rounds. A fixed 8 KiB: 0.973 and 1.049. q6_k: 0.993
/// busy (19), 1.018 free (171); q8_0: 1.001 busy (10), 0.995 free (83); f16 (whose kernels read the same distance;
/// tg64): 0.998 busy (35), 1.049 free (83). With the second prefetch tuned too, against this tuner over the distance
/// alone (2026-11-28, session 18, 13:09-13:17 UTC, same harness, pairs classed by a cache-line ping-pong): one CCD
/// q4_0 1.042 (25 pairs), q6_k 1.039 (23), q4_k_m 1.035 (18), q8_0 1.001 (18); two CCDs 1.000 (23), 1.006 (25),
/// 0.991 (30), 0.993 (22). q8_0 kept the second prefetch after 36 of its 40 rounds; q4_0 left it out after 35 of 48.</summary>
internal sealed class PrefetchDistanceTuner
{
    /// <summary>The distances of the first prefetch (not to be confused with <see cref="Block32Rows.PrefetchFar"/>,
    /// where the second lands past the first).</summary>
    public const int Near = 4096, Far = 8192, Farther = 16384;

    /// <summary>One way for decode kernels to prefetch: the first prefetch <see cref="Ahead"/> bytes ahead, and the
    /// second <see cref="Block32Rows.PrefetchFar"/> further on when <see cref="Second"/>.</summary>
    public readonly record struct Setting(int Ahead, bool Second);

    /// <summary>What the tuner chooses between; the first is where it starts. Since each thread's weights lie end to
    /// end (Models/DecodeLayout, 2026-11-28, session 19) a prefetch past the end of a matrix lands on the thread's next
    /// matrix, not on rows nobody reads next, and a farther distance pays on a free bus. Fixed settings against 8 KiB
    /// without the second prefetch, tg128 rounds alternating in one process, classed by the ping-pong (15:02-15:26
    /// UTC): two CCDs, 16 KiB alone q4_0 1.025 (44 pairs), q4_k_m 1.024 (41), q6_k 1.009 (34), q8_0 0.948 (24);
    /// 16 KiB with the second 1.008 and 1.004; 8 KiB with it q6_k 1.015, q8_0 0.971; 4 KiB with it q6_k 0.971, q8_0
    /// 1.007. One CCD: 16 KiB alone 0.980 (37), 0.986 (43), q8_0 1.006 (17); 4 KiB with the second q8_0 1.006. 24 and
    /// 32 KiB alone, two CCDs, against 16 KiB: q4_0 0.986 and 0.976 (30), q4_k_m 0.979 and 0.973 (36). So each of the
    /// four is the best somewhere; 4 KiB alone, not measured with the layout, is left out to keep the round of trials
    /// short (three challengers).</summary>
    public static readonly Setting[] Settings = [new(Far, false), new(Farther, false), new(Far, true), new(Near, true)];

    /// <summary>What batches (prompts, several sequences at once) read with: what their kernels were measured with.</summary>
    public static readonly Setting Batch = new(Near, true);

    public const int Epoch = 32, Trial = 2;
    /// <summary>Weight of the newest epoch's ratio in the moving average.</summary>
    public const double Alpha = 0.3;
    /// <summary>Switch when a challenger's steps take less than this share of the current setting's, on average: below
    /// the ratios measured on the AMD machine (0.95-0.96 to 8 KiB on a free bus, 0.97 back on a busy one), so both moves
    /// happen, and far enough below 1 that simulated ±3 % noise per step moves it at most 50 times in 1000 epochs of
    /// equal settings and never in 1000 with the others 3 % slower (PrefetchDistanceTunerTests).</summary>
    public const double SwitchBelow = 0.985;

    /// <summary>The one tuner of the process (the setting is one static): used by every context's decode.</summary>
    public static readonly PrefetchDistanceTuner Shared = new();

    private readonly double[] _average = new double[Settings.Length];   // per setting: moving average of its trial / current time ratio
    private int _busy;   // 1 while a timed step runs
    private int _current;   // index into Settings
    private long _step;   // single-entry steps timed so far; the epoch is _step / Epoch (a long: no wrap in a server's lifetime)
    private long _referenceTicks, _trialTicks;

    public PrefetchDistanceTuner() => Array.Fill(_average, 1.0);

    public Setting Current => Settings[_current];

    /// <summary>Index of the setting the last <see cref="Trial"/> steps of epoch <paramref name="epoch"/> run with: the
    /// settings other than the current one, in turn, one per epoch.</summary>
    private int Challenger(long epoch) => (int)((_current + 1 + epoch % (Settings.Length - 1)) % Settings.Length);

    /// <summary>Before a step of <paramref name="batch"/> entries: applies the setting for it (a single entry: the
    /// tuner's; a batch: <see cref="Batch"/>) and returns true when the tuner times it (then
    /// <see cref="End"/> must follow).</summary>
    public bool Begin(int batch) => Begin(batch, out _);

    /// <summary><see cref="Begin(int)"/>, also giving the setting the timed step reads with.</summary>
    public bool Begin(int batch, out Setting setting)
    {
        setting = default;
        if (batch != 1)
        {
            // prompts and several sequences at once: what their kernels were measured with (none of the A/Bs above)
            Apply(Batch);
            return false;
        }
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            Apply(Current);
            return false;
        }
        setting = _step % Epoch >= Epoch - Trial ? Settings[Challenger(_step / Epoch)] : Current;
        Apply(setting);
        return true;
    }

    /// <summary>The timed step took <paramref name="ticks"/>; frees the tuner for the next step.</summary>
    public void End(long ticks)
    {
        try
        {
            int k = (int)(_step % Epoch);
            if (k >= Epoch - Trial) _trialTicks += ticks;
            else if (k >= Epoch - 2 * Trial) _referenceTicks += ticks;
            if (++_step % Epoch != 0) return;
            if (_referenceTicks > 0 && _trialTicks > 0)
            {
                int challenger = Challenger(_step / Epoch - 1);   // the epoch that just ended
                _average[challenger] = (1 - Alpha) * _average[challenger] + Alpha * ((double)_trialTicks / _referenceTicks);
                if (_average[challenger] < SwitchBelow)
                {
                    _current = challenger;
                    Array.Fill(_average, 1.0);
                }
            }
            _referenceTicks = _trialTicks = 0;
        }
        finally
        {
            Apply(Current);
            Volatile.Write(ref _busy, 0);
        }
    }

    private static void Apply(Setting setting)
    {
        Block32Rows.PrefetchAhead = setting.Ahead;
        Block32Rows.FarOffset = setting.Second ? Block32Rows.PrefetchFar : 0;
    }
}

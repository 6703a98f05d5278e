using System.Diagnostics;
using QwenSharp.Models;

namespace QwenSharp.Generation;

// The scheduler thread: admit waiting requests into free slots, build one batch, decode it, sample every row.
public sealed partial class BatchScheduler
{
    private void Run()
    {
        while (true)
        {
            _wake.Reset();
            if (_stopping) break;
            RunEmbeddingJob();
            DropCancelled();
            Admit();
            if (Volatile.Read(ref _occupied) == 0)
            {
                bool idle;
                lock (_gate) idle = _queue.Count == 0 && _embeddings.Count == 0;
                if (idle) _wake.Wait();
                continue;
            }
            Step();
        }
        FailEverything(new SchedulerClosedException());
    }

    /// <summary>Cancelled requests stop here, before the next forward pass: queued ones leave the queue, running
    /// ones finish with <see cref="FinishReason.Cancelled"/> and free their slot.</summary>
    private void DropCancelled()
    {
        foreach (var slot in _slots)
            if (slot.Current is { } g && g.Handle.IsCancelled) Finish(slot, FinishReason.Cancelled, null);
        lock (_gate)
        {
            bool any = false;
            foreach (var h in _queue) if (h.IsCancelled) { any = true; break; }
            if (!any) return;
            // One turn of the queue: the kept requests go back in their order, the cancelled ones finish.
            for (int left = _queue.Count; left > 0; left--)
            {
                var h = _queue.Dequeue();
                if (!h.IsCancelled) { _queue.Enqueue(h); continue; }
                Metrics.LeftQueue();
                Metrics.CancelledInQueue();
                h.Finish(new ScheduledResult(h.Request.Prompt.Count, 0, 0, 0, "", FinishReason.Cancelled, null,
                    Stopwatch.GetElapsedTime(h.SubmittedTicks), TimeSpan.Zero, TimeSpan.Zero));
            }
        }
    }

    /// <summary>Moves waiting requests into free slots. Each takes the free slot whose cache shares the longest
    /// prefix with its prompt (ties: the least recently used) and keeps that prefix: a chat's earlier turns are not
    /// processed again. At least one prompt token is always decoded, since its logits start the answer.</summary>
    private void Admit()
    {
        while (true)
        {
            ScheduledGeneration handle;
            lock (_gate)
            {
                if (_queue.Count == 0 || Volatile.Read(ref _occupied) == _slots.Length) return;
                handle = _queue.Dequeue();
                Interlocked.Increment(ref _occupied);
                Metrics.LeftQueue();
            }
            try
            {
                var request = handle.Request;
                int limit = ContextLimit(request);
                int[] prompt = [.. request.Prompt];
                int truncated = 0;
                if (prompt.Length >= limit)
                {
                    // Keep the newest tokens and leave room for the answer (a quarter of the context, or less when
                    // max tokens asks for less).
                    int room = request.Options.MaxTokens > 0 ? Math.Min(request.Options.MaxTokens, limit / 2) : limit / 4;
                    int keep = Math.Max(1, limit - Math.Max(1, room));
                    truncated = prompt.Length - keep;
                    prompt = prompt[truncated..];
                }
                Slot slot = BestSlot(prompt, out int common);
                slot.Cached.RemoveRange(common, slot.Cached.Count - common);
                _ctx.Cache.Truncate(slot.Sequence, common);
                slot.Current = new ActiveGeneration(handle, prompt, truncated, limit, Model)
                {
                    Reused = common, Fed = common, AdmittedTicks = Stopwatch.GetTimestamp(),
                };
                slot.LastUsedStep = _stepNumber;
                Metrics.Started(prompt.Length, common);
            }
            catch (Exception e)
            {
                Interlocked.Decrement(ref _occupied);
                Metrics.FailedInQueue();
                handle.Fail(e);
            }
        }
    }

    private Slot BestSlot(int[] prompt, out int bestCommon)
    {
        Slot? best = null;
        bestCommon = -1;
        foreach (var slot in _slots)
        {
            if (slot.Current != null) continue;
            int common = 0, max = Math.Min(slot.Cached.Count, prompt.Length - 1);
            while (common < max && slot.Cached[common] == prompt[common]) common++;
            if (common > bestCommon || (common == bestCommon && slot.LastUsedStep < best!.LastUsedStep))
            {
                best = slot;
                bestCommon = common;
            }
        }
        return best ?? throw new InvalidOperationException("no free slot although one was counted");
    }

    /// <summary>One forward pass: the pending token of every generating slot, then prompt chunks of joining slots
    /// up to the batch size; then each row that produced logits is sampled by its own request.</summary>
    private void Step()
    {
        _stepNumber++;
        int n = 0, outputs = 0;
        foreach (var slot in _slots)
            if (slot.Current is { Prefilling: false } g)
            {
                _batch[n++] = new BatchEntry(g.LastToken, slot.Cached.Count, slot.Sequence, WantLogits: true);
                _outputSlots[outputs++] = slot;
            }
        int decodeRows = n;
        foreach (var slot in _slots)
        {
            if (slot.Current is not { Prefilling: true } g || n == _batch.Length) continue;
            int take = Math.Min(g.Prompt.Length - g.Fed, _batch.Length - n);
            for (int i = 0; i < take; i++)
            {
                int p = g.Fed + i;
                bool last = p == g.Prompt.Length - 1;
                _batch[n++] = new BatchEntry(g.Prompt[p], p, slot.Sequence, WantLogits: last);
                if (last) _outputSlots[outputs++] = slot;
            }
        }

        try
        {
            _ctx.Decode(_batch.AsSpan(0, n));
        }
        catch (Exception e)
        {
            // A failed pass leaves the caches of its sequences undefined: forget them and fail their requests.
            foreach (var slot in _slots)
            {
                if (slot.Current is null) continue;
                slot.Cached.Clear();
                _ctx.Cache.Clear(slot.Sequence);
                Fail(slot, e);
            }
            return;
        }

        // Record what the caches now hold.
        for (int i = 0; i < decodeRows; i++)
        {
            var slot = _outputSlots[i];
            slot.Cached.Add(slot.Current!.LastToken);
        }
        for (int i = decodeRows; i < n; i++)
        {
            var slot = _slots[_batch[i].Sequence];
            slot.Cached.Add(_batch[i].Token);
            slot.Current!.Fed++;
        }

        int generated = 0;
        for (int o = 0; o < outputs; o++)
        {
            var slot = _outputSlots[o];
            var g = slot.Current!;
            try
            {
                var reason = g.Step(_ctx.Logits(o), slot.Cached.Count, out int? stopToken);
                if (reason != FinishReason.Stop || stopToken is null) generated++;
                if (reason is FinishReason r) Finish(slot, r, stopToken);
            }
            catch (Exception e)
            {
                Fail(slot, e);
            }
        }
        Metrics.Step(generated);
    }

    private void Finish(Slot slot, FinishReason reason, int? stopToken)
    {
        var g = slot.Current!;
        string text = g.Flush(reason, stopToken);
        long now = Stopwatch.GetTimestamp();
        long first = g.FirstTokenTicks != 0 ? g.FirstTokenTicks : now;
        var result = new ScheduledResult(g.Prompt.Length, g.Reused, g.TruncatedTokens, g.Generated, text, reason, stopToken,
            Stopwatch.GetElapsedTime(g.Handle.SubmittedTicks, g.AdmittedTicks),
            Stopwatch.GetElapsedTime(g.AdmittedTicks, first), Stopwatch.GetElapsedTime(first, now));
        Release(slot, reason);
        g.Handle.Finish(result);
    }

    private void Fail(Slot slot, Exception error)
    {
        var g = slot.Current!;
        Release(slot, null);
        g.Handle.Fail(error);
    }

    private void Release(Slot slot, FinishReason? reason)
    {
        slot.Current = null;
        slot.LastUsedStep = _stepNumber;
        Interlocked.Decrement(ref _occupied);
        Metrics.Ended(reason);
    }

    private void FailEverything(Exception error)
    {
        foreach (var slot in _slots)
            if (slot.Current != null) Fail(slot, error);
        lock (_gate)
        {
            while (_queue.Count > 0)
            {
                Metrics.LeftQueue();
                Metrics.FailedInQueue();
                _queue.Dequeue().Fail(error);
            }
            while (_embeddings.Count > 0) _embeddings.Dequeue().Done.TrySetException(error);
        }
    }
}

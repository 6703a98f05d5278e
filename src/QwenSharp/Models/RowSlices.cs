namespace QwenSharp.Models;

/// <summary>Where a matrix's rows are after <see cref="DecodeLayout"/> moved them: slice s holds rows
/// [<see cref="Start"/>(s), <see cref="End"/>(s)) in memory of its own. Each slice is addressed from a base pointer
/// placed where the matrix would begin if its other rows lay around the slice
/// (<see cref="Base"/>(s) = the slice's memory - Start(s) · RowBytes), so a kernel reads a slice's rows from that base
/// as it reads any matrix's rows from its data pointer; both layouts the kernels read (rows, and groups of eight
/// interleaved rows) place row r at a fixed offset proportional to r, given slice edges on whole groups.</summary>
public sealed unsafe class RowSlices
{
    private readonly int[] _starts;   // Count + 1 edges, the first 0 and the last the matrix's row count
    private readonly nint[] _bases;

    internal RowSlices(int[] starts, nint[] bases)
    {
        if (starts.Length != bases.Length + 1 || starts[0] != 0)
            throw new ArgumentException("a slice table needs one more edge than slices, starting at row 0");
        for (int s = 0; s < bases.Length; s++)
            if (starts[s + 1] < starts[s]) throw new ArgumentException($"slice {s} ends before it starts");
        _starts = starts;
        _bases = bases;
    }

    public int Count => _bases.Length;

    public int Start(int slice) => _starts[slice];

    public int End(int slice) => _starts[slice + 1];

    public byte* Base(int slice) => (byte*)_bases[slice];

    /// <summary>The slice that holds <paramref name="row"/> (a few slices: one per decode thread).</summary>
    public int Find(int row)
    {
        int s = 0;
        while (s < _bases.Length - 1 && row >= _starts[s + 1]) s++;
        return s;
    }
}

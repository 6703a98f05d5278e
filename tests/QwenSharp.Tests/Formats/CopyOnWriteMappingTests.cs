using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>The copy-on-write mapping a repacking load uses: writes stay in this process (the file is unchanged,
/// and a second mapping of it still sees the file's bytes), and PopulatePrivate makes a range private in advance
/// on Linux (its pages then count as private dirty memory of the mapping before anything is written).</summary>
public unsafe class CopyOnWriteMappingTests
{
    internal static string TempFile(int bytes)
    {
        string path = Path.Combine(TestPaths.NewTempDir("cow"), "data.bin");
        var data = new byte[bytes];
        new Random(5).NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    [Fact]
    public void WritesStayPrivateToTheMapping()
    {
        string path = TempFile(1 << 20);
        byte[] original = File.ReadAllBytes(path);
        using var writable = FileMapping.Map(path, FileMapping.OpenStream(path), copyOnWrite: true);
        using var shared = FileMapping.Map(path, FileMapping.OpenStream(path));
        Assert.True(writable.CopyOnWrite);
        Assert.False(shared.CopyOnWrite);
        for (int i = 0; i < 1 << 20; i += 4096) writable.Base[i] = (byte)~original[i];
        Assert.Equal((byte)~original[8192], writable.Base[8192]);
        Assert.Equal(original[8192], shared.Base[8192]);
        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public void PopulatePrivateMakesTheRangePrivateBeforeAnyWrite()
    {
        if (!OperatingSystem.IsLinux() || Environment.OSVersion.Version < new Version(5, 14)) return;   // madvise(MADV_POPULATE_WRITE) is Linux 5.14+
        const int Bytes = 8 << 20;
        string path = TempFile(Bytes);
        using var map = FileMapping.Map(path, FileMapping.OpenStream(path), copyOnWrite: true);
        long before = PrivateDirtyKiB(path);
        FileMapping.PopulatePrivate(map.Base + 4096, Bytes - 8192);
        long after = PrivateDirtyKiB(path);
        Assert.True(after - before >= (Bytes - 8192) / 1024, $"private dirty {before} kB before, {after} kB after populating {(Bytes - 8192) / 1024} kB");
        Assert.Equal(File.ReadAllBytes(path)[5000], map.Base[5000]);   // populated pages are copies of the file's
    }

    [Fact]
    public void MakePrivateKeepsEveryByteAndNeverWritesTheFile()
    {
        const int Bytes = (9 << 20) + 1234;   // not a whole number of 2 MiB windows: the tail has none
        string path = TempFile(Bytes);
        byte[] original = File.ReadAllBytes(path);
        using var map = FileMapping.Map(path, FileMapping.OpenStream(path), copyOnWrite: true);
        using var shared = FileMapping.Map(path, FileMapping.OpenStream(path));
        nint b = (nint)map.Base;
        (nint, long)[] ranges = [(b + 100, 3000), (b + (2 << 20) + 5, 1 << 20), (b + Bytes - 5000, 5000)];

        map.MakePrivate(ranges);

        Assert.True(new ReadOnlySpan<byte>(map.Base, Bytes).SequenceEqual(original), "a private copy differs from the file");
        foreach (var (start, bytes) in ranges)
            for (long i = 0; i < bytes; i++) ((byte*)start)[i] ^= 0xFF;
        Assert.Equal((byte)~original[(2 << 20) + 5], map.Base[(2 << 20) + 5]);
        Assert.Equal(original[(2 << 20) + 4], map.Base[(2 << 20) + 4]);   // the window's bytes outside the range: still the file's
        Assert.Equal(original[(2 << 20) + 5], shared.Base[(2 << 20) + 5]);
        Assert.Equal(original, File.ReadAllBytes(path));
        if (OperatingSystem.IsLinux())
        {
            // The range in the middle sits in whole windows: anonymous memory advised MADV_HUGEPAGE ("hg"), no longer the file's.
            var (pathname, flags) = Vma((nint)(map.Base + (2 << 20) + 5));
            Assert.Equal("", pathname);
            Assert.Contains("hg", flags.Split(' '));
            Assert.EndsWith(Path.GetFileName(path), Vma((nint)(map.Base + Bytes - 100)).Path);   // the tail's pages: still the file mapping's
        }
    }

    [Fact]
    public void MakePrivateSplitsLongRunsOfWindowsAndSkipsTheGaps()
    {
        // 40 MiB; windows counted from the first 2 MiB boundary in the mapping: a range over windows 0..16 (more than
        // one run of 16 windows) and one in window 18, after window 17 that no range touches. Bytes kept everywhere,
        // the file unchanged; on Linux the windows in ranges are anonymous and advised, window 17 is still the file's.
        const long Window = 2 << 20;
        const int Bytes = 40 << 20;
        string path = TempFile(Bytes);
        byte[] original = File.ReadAllBytes(path);
        using var map = FileMapping.Map(path, FileMapping.OpenStream(path), copyOnWrite: true);
        byte* first = (byte*)(((long)map.Base + Window - 1) & ~(Window - 1));
        map.MakePrivate([((nint)(first + 7), 17 * Window - 7), ((nint)(first + 18 * Window), 100)]);
        Assert.True(new ReadOnlySpan<byte>(map.Base, Bytes).SequenceEqual(original), "a private copy differs from the file");
        if (OperatingSystem.IsLinux())
        {
            foreach (int w in new[] { 0, 15, 16, 18 })
            {
                var (pathname, flags) = Vma((nint)(first + w * Window + Window / 2));
                Assert.True(pathname == "" && flags.Split(' ').Contains("hg"), $"window {w}: '{pathname}' [{flags}]");
            }
            Assert.EndsWith(Path.GetFileName(path), Vma((nint)(first + 17 * Window + Window / 2)).Path);
        }
        for (long i = 0; i < 17 * Window; i += 4096) first[i] ^= 0xFF;
        Assert.Equal((byte)~original[first - map.Base], first[0]);
        Assert.Equal(original, File.ReadAllBytes(path));
    }

    [Fact]
    public void MakePrivateRefusesASharedMapping()
    {
        string path = TempFile(1 << 20);
        using var shared = FileMapping.Map(path, FileMapping.OpenStream(path));
        Assert.Throws<InvalidOperationException>(() => shared.MakePrivate([((nint)shared.Base, 4096)]));
    }

    /// <summary>The pathname and VmFlags of the mapping holding <paramref name="address"/>, from /proc/self/smaps.</summary>
    internal static (string Path, string Flags) Vma(nint address)
    {
        string? found = null;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
            {
                string[] fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                string[] bounds = fields[0].Split('-');
                ulong lo = Convert.ToUInt64(bounds[0], 16), hi = Convert.ToUInt64(bounds[1], 16);
                found = (ulong)address >= lo && (ulong)address < hi ? (fields.Length > 5 ? fields[5].Trim() : "") : null;
            }
            else if (found != null && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return (found, line["VmFlags:".Length..].Trim());
        }
        throw new InvalidOperationException($"no mapping holds 0x{address:x}");
    }

    /// <summary>Private_Dirty of this process's mappings of the file, from /proc/self/smaps.</summary>
    private static long PrivateDirtyKiB(string path)
    {
        long total = 0;
        bool inFile = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                inFile = line.EndsWith(path, StringComparison.Ordinal);
            else if (inFile && line.StartsWith("Private_Dirty:", StringComparison.Ordinal))
                total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        }
        return total;
    }
}

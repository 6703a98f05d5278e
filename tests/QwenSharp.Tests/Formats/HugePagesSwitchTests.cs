using QwenSharp.Formats;

namespace QwenSharp.Tests.Formats;

/// <summary>Tests that set QWENSHARP_HUGE_PAGES run alone: the switch is read at every load, so a test running beside
/// them would see it too.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HugePagesSwitchCollection
{
    public const string Name = "QWENSHARP_HUGE_PAGES switch";
}

/// <summary>QWENSHARP_HUGE_PAGES=0: the mapping is not advised MADV_HUGEPAGE and MakePrivate keeps the range in the
/// file mapping as 4 KiB private copies (what loads did before 2 MiB pages, kept for measuring).</summary>
[Collection(HugePagesSwitchCollection.Name)]
public unsafe class HugePagesSwitchTests
{
    [Fact]
    public void WithTheSwitchOffMakePrivateKeepsFourKiBCopiesInTheFileMapping()
    {
        string? before = Environment.GetEnvironmentVariable("QWENSHARP_HUGE_PAGES");
        Environment.SetEnvironmentVariable("QWENSHARP_HUGE_PAGES", "0");
        try
        {
            Assert.False(HugePages.Wanted);
            const int Bytes = 9 << 20;
            string path = CopyOnWriteMappingTests.TempFile(Bytes);
            byte[] original = File.ReadAllBytes(path);
            using var map = FileMapping.Map(path, FileMapping.OpenStream(path), copyOnWrite: true);
            byte* inside = map.Base + (2 << 20) + 5;   // a range in whole 2 MiB windows, which the switch leaves alone
            map.MakePrivate([((nint)inside, 1 << 20)]);
            Assert.True(new ReadOnlySpan<byte>(map.Base, Bytes).SequenceEqual(original), "a private copy differs from the file");
            inside[0] ^= 0xFF;
            Assert.Equal((byte)~original[(2 << 20) + 5], inside[0]);
            Assert.Equal(original, File.ReadAllBytes(path));
            if (OperatingSystem.IsLinux())
            {
                var (pathname, flags) = CopyOnWriteMappingTests.Vma((nint)inside);
                Assert.EndsWith(Path.GetFileName(path), pathname);   // still the file mapping, not an anonymous window
                Assert.DoesNotContain("hg", flags.Split(' '));        // and never advised MADV_HUGEPAGE
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("QWENSHARP_HUGE_PAGES", before);
        }
    }
}

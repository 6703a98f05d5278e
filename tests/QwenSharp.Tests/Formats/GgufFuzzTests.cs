using System.Buffers.Binary;
using QwenSharp.Formats;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Formats;

/// <summary>Thousands of corrupted copies of one small valid file: every open must either succeed (and then every
/// value and every tensor byte must be readable) or throw ModelFileException. Any other exception, a crash or a
/// hang is a bug.</summary>
public class GgufFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 3000;
    private const long MaxAllocationPerOpen = 1 << 20;
    private const uint TypeU32 = 4, TypeF32 = 6, TypeBool = 7, TypeString = 8, TypeArray = 9;

    private static (byte[] Bytes, List<(long Position, int Size, RawGguf.FieldKind Kind)> Fields, int MetadataEnd) BaseFile()
    {
        var raw = new RawGguf().Header(3, 4, 7);
        raw.Key("general.architecture", TypeString).Str("qwen2");
        raw.Key("general.alignment", TypeU32).U32(32);
        raw.Key("qwen2.block_count", TypeU32).U32(2);
        raw.Key("tokenizer.ggml.tokens", TypeArray).ArrayHeader(TypeString, 3).Str("a").Str("Ġb").Str("千");
        raw.Key("tokenizer.ggml.scores", TypeArray).ArrayHeader(TypeF32, 3).F32(0).F32(-1).F32(-2);
        raw.Key("nested", TypeArray).ArrayHeader(TypeArray, 2).ArrayHeader(TypeU32, 2).U32(1).U32(2).ArrayHeader(TypeString, 1).Str("x");
        raw.Key("flag", TypeBool).U8(1);
        raw.TensorInfo("token_embd.weight", 8, [32, 2], 0);   // Q8_0, 68 bytes
        raw.TensorInfo("output_norm.weight", 0, [4], 96);     // F32, 16 bytes
        raw.TensorInfo("blk.0.attn_q.weight", 1, [8, 2], 128); // F16, 32 bytes
        raw.TensorInfo("blk.0.ffn_up.weight", 12, [256], 160); // Q4_K, 144 bytes
        int metadataEnd = (int)raw.Length;
        raw.PadTo(32).Bytes(GgufTestFiles.Pattern(304, 7));
        return (raw.ToArray(), raw.Fields, metadataEnd);
    }

    private static readonly ulong[] InterestingValues =
    [
        0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 31, 32, 33, 255, 256, 1000, 65535, 1UL << 31, uint.MaxValue, 1UL << 32,
        (1UL << 32) + 1, 1UL << 40, 1UL << 62, long.MaxValue, 1UL << 63, ulong.MaxValue - 1, ulong.MaxValue,
    ];

    [Fact]
    public void Corrupted_files_open_cleanly_or_throw_ModelFileException()
    {
        var (original, fields, metadataEnd) = BaseFile();
        string path = GgufTestFiles.NewPath("fuzz");
        File.WriteAllBytes(path, original);
        using (GgufFile g = GgufFile.Open(path)) Assert.Equal(4, g.Tensors.Count);

        var random = new Random(20240531);
        int accepted = 0, rejected = 0;
        var problems = new Dictionary<string, int>();
        var failures = new List<string>();
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            byte[] bytes = (byte[])original.Clone();
            int mutations = random.Next(4) == 0 ? random.Next(2, 5) : 1;
            var applied = new List<string>();
            for (int m = 0; m < mutations; m++)
                applied.Add(Mutate(ref bytes, random, fields, metadataEnd));

            File.WriteAllBytes(path, bytes);
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using GgufFile g = GgufFile.Open(path);
                TouchEverything(g);
                accepted++;
            }
            catch (ModelFileException e)
            {
                Assert.Equal(path, e.FilePath);
                Assert.StartsWith(path + ": ", e.Message);
                Assert.False(e.Message.Any(char.IsControl), "control character in: " + e.Message);
                rejected++;
                string problem = e.Message[(path.Length + 2)..];
                problem = new string(problem.TakeWhile(c => !char.IsDigit(c) && c != '(').ToArray()).Trim();
                problems[problem] = problems.GetValueOrDefault(problem) + 1;
            }
            catch (Exception e)
            {
                failures.Add($"iteration {iteration} [{string.Join("; ", applied)}]: {e.GetType().Name}: {e.Message}");
            }
            // Sizing anything from a count the file cannot back would show up here long before it ran out of memory.
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            if (allocated > MaxAllocationPerOpen)
                failures.Add($"iteration {iteration} [{string.Join("; ", applied)}]: allocated {allocated} bytes for a {bytes.Length}-byte file");
        }

        output.WriteLine($"{accepted} accepted, {rejected} rejected");
        foreach (var (problem, count) in problems.OrderByDescending(p => p.Value)) output.WriteLine($"{count,5}  {problem}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        // Both outcomes must actually be exercised, or the corruptions are not aimed well.
        Assert.True(accepted > 100, $"only {accepted} corrupted files opened");
        Assert.True(rejected > 1000, $"only {rejected} corrupted files were refused");
    }

    private static string Mutate(ref byte[] bytes, Random random, List<(long Position, int Size, RawGguf.FieldKind Kind)> fields, int metadataEnd)
    {
        if (bytes.Length == 0) return "empty";
        // Most corruptions go where the parser looks; the data section is only bounds-checked.
        int length = bytes.Length;
        int Position() => random.Next(4) == 0 ? random.Next(length) : random.Next(Math.Min(metadataEnd, length));

        switch (random.Next(6))
        {
            case 0:
            {
                int flips = random.Next(1, 5);
                for (int i = 0; i < flips; i++) bytes[Position()] ^= (byte)(1 << random.Next(8));
                return $"{flips} bit flips";
            }
            case 1:
            {
                byte fill = random.Next(2) == 0 ? (byte)0xFF : (byte)0x00;
                int at = Position(), run = random.Next(3) == 0 ? 8 : 1;
                for (int i = at; i < Math.Min(bytes.Length, at + run); i++) bytes[i] = fill;
                return $"{run} x 0x{fill:X2} at {at}";
            }
            case 2:
            {
                int cut = random.Next(bytes.Length);
                bytes = bytes[..cut];
                return $"truncated to {cut}";
            }
            case 3:
            case 4:
            {
                var candidates = random.Next(5) == 4 ? fields.FindAll(f => f.Kind == RawGguf.FieldKind.Dim) : fields;
                var (position, size, kind) = candidates[random.Next(candidates.Count)];
                if (position + size > bytes.Length) return "field beyond truncation";
                ulong value = random.Next(3) == 0 ? (ulong)random.NextInt64() << random.Next(2) : InterestingValues[random.Next(InterestingValues.Length)];
                if (size == 4) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)position), (uint)value);
                else BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)position), value);
                return $"{kind} field at {position} = {value}";
            }
            default:
            {
                int at = Position();
                bytes[at] = (byte)random.Next(256);
                return $"random byte at {at}";
            }
        }
    }

    /// <summary>Reads every value the file claims to have and every tensor byte, as a model loader would.</summary>
    private static void TouchEverything(GgufFile g)
    {
        foreach (var (key, value) in g.Metadata)
        {
            Assert.NotNull(key);
            Touch(value);
        }
        foreach (GgufTensorInfo t in g.Tensors)
        {
            Assert.Same(t, g.GetTensor(t.Name));
            ReadOnlySpan<byte> span = g.GetTensorSpan(t);
            int sum = 0;
            foreach (byte b in span) sum += b;
            Assert.True(sum >= 0);
            Assert.True(g.DataOffset + t.Offset + t.ByteSize <= g.FileSize);
        }
        _ = g.Alignment;
    }

    private static void Touch(GgufValue value)
    {
        _ = value.ToString();
        if (value.Value is not GgufArray array) return;
        for (int i = 0; i < Math.Min(array.Count, 1000); i++) Touch(array[i]);
    }
}

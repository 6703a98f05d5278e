using System.Text;
using QwenSharp.Formats;
using Xunit.Abstractions;

namespace QwenSharp.Tests.Formats;

/// <summary>Seeded corruptions of one small valid safetensors file: every copy must either open (and then every
/// tensor byte must be readable) or throw ModelFileException naming the file. Anything else is a bug.</summary>
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private const int Iterations = 3000;

    private static readonly string[] Replacements =
    [
        "0", "-1", "1e3", "18446744073709551615", "9223372036854775807", "\"F32\"", "\"BF16\"", "\"X\"", "null", "[]", "{}",
        "[0,0]", "[1,2,3]", "\"\"", ",", "}", "]", "\"__metadata__\"", "4294967296",
    ];

    [Fact]
    public void Corrupted_files_open_cleanly_or_throw_ModelFileException()
    {
        byte[] original;
        using (var ms = new MemoryStream()) { SafetensorsTests.SmallWriter().Write(ms); original = ms.ToArray(); }
        int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
        string path = Path.Combine(TestPaths.NewTempDir("st-fuzz"), "fuzz.safetensors");
        var random = new Random(20261126);
        int accepted = 0, rejected = 0;
        var failures = new List<string>();
        var problems = new Dictionary<string, int>();
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            byte[] bytes = (byte[])original.Clone();
            string applied = Mutate(ref bytes, random, headerEnd);
            File.WriteAllBytes(path, bytes);
            try
            {
                using var f = SafetensorsFile.Open(path);
                long sum = 0;
                foreach (var t in f.Tensors) foreach (byte b in f.GetSpan(t)) sum += b;
                accepted++;
            }
            catch (ModelFileException e)
            {
                if (e.FilePath != path || !e.Message.StartsWith(path + ": ", StringComparison.Ordinal))
                    failures.Add($"iteration {iteration} [{applied}]: message does not name the file: {e.Message}");
                rejected++;
                string problem = new(e.Message[(path.Length + 2)..].TakeWhile(c => c != ':' && !char.IsDigit(c)).ToArray());
                problems[problem] = problems.GetValueOrDefault(problem) + 1;
            }
            catch (Exception e)
            {
                failures.Add($"iteration {iteration} [{applied}]: {e.GetType().Name}: {e.Message}");
            }
        }
        output.WriteLine($"{accepted} accepted, {rejected} rejected");
        foreach (var (problem, count) in problems.OrderByDescending(p => p.Value).Take(20)) output.WriteLine($"{count,5}  {problem}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.True(accepted > 50, $"only {accepted} corrupted files opened");
        Assert.True(rejected > 1000, $"only {rejected} corrupted files were refused");
    }

    private static string Mutate(ref byte[] bytes, Random random, int headerEnd)
    {
        int length = bytes.Length;
        int Position() => random.Next(5) == 0 ? random.Next(length) : random.Next(Math.Min(headerEnd, length));
        switch (random.Next(6))
        {
            case 0:
            {
                int at = Position();
                bytes[at] ^= (byte)(1 << random.Next(8));
                return $"bit flip at {at}";
            }
            case 1:
            {
                int at = random.Next(8);
                bytes[at] = (byte)random.Next(256);
                return $"length byte {at}";
            }
            case 2:
            {
                int cut = random.Next(bytes.Length);
                Array.Resize(ref bytes, cut);
                return $"truncated to {cut}";
            }
            case 3:
            {
                // Replace a run of the JSON with a token from a list of troublemakers (keeps the declared length).
                string header = Encoding.UTF8.GetString(bytes, 8, headerEnd - 8);
                int at = random.Next(header.Length), len = random.Next(1, 6);
                len = Math.Min(len, header.Length - at);
                string replaced = header[..at] + Replacements[random.Next(Replacements.Length)] + header[(at + len)..];
                byte[] json = Encoding.UTF8.GetBytes(replaced);
                var result = new byte[8 + json.Length + (bytes.Length - headerEnd)];
                BitConverter.GetBytes((ulong)json.Length).CopyTo(result, 0);
                json.CopyTo(result, 8);
                Array.Copy(bytes, headerEnd, result, 8 + json.Length, bytes.Length - headerEnd);
                bytes = result;
                return $"json token at {at}";
            }
            case 4:
            {
                // A digit changed: offsets and shapes move.
                byte[] current = bytes;
                var digits = Enumerable.Range(8, headerEnd - 8).Where(i => current[i] is >= (byte)'0' and <= (byte)'9').ToArray();
                int at = digits[random.Next(digits.Length)];
                bytes[at] = (byte)('0' + random.Next(10));
                return $"digit at {at}";
            }
            default:
            {
                int extra = random.Next(1, 64);
                Array.Resize(ref bytes, bytes.Length + extra);
                return $"{extra} bytes appended";
            }
        }
    }
}

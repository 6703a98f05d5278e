using QwenSharp.Models;

namespace QwenSharp.Tests.Models;

/// <summary>For tests that hold one decode path against another: the same token stream, one entry a step.</summary>
internal static class DecodePathAgreement
{
    /// <summary>Decodes <paramref name="steps"/> tokens (sequence 0, from position 0; the first
    /// <paramref name="firstToken"/>, then random printable ones from <paramref name="seed"/>) through the reference
    /// and every other context, and asserts after each step that every other context's logits are the reference's,
    /// bit for bit.</summary>
    public static void AssertSameBits(int steps, int seed, int firstToken, (Qwen2Context Context, string Name) reference,
                                      params (Qwen2Context Context, string Name)[] others)
    {
        var rng = new Random(seed);
        int token = firstToken;
        for (int position = 0; position < steps; position++)
        {
            reference.Context.Decode([new BatchEntry(token, position, 0, true)]);
            foreach (var other in others) other.Context.Decode([new BatchEntry(token, position, 0, true)]);
            var expected = reference.Context.Logits(0);
            foreach (var other in others)
            {
                var actual = other.Context.Logits(0);
                for (int j = 0; j < expected.Length; j++)
                    Assert.True(BitConverter.SingleToInt32Bits(actual[j]) == BitConverter.SingleToInt32Bits(expected[j]),
                        $"position {position} logit {j}: {other.Name} {actual[j]:R}, {reference.Name} {expected[j]:R}");
            }
            token = rng.Next(32, 127);
        }
    }
}

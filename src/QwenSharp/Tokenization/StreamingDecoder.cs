using System.Buffers;
using System.Text;

namespace QwenSharp.Tokenization;

/// <summary>
/// Decodes a token stream one id at a time for live output. A multi-byte character split across tokens is held back
/// until it is complete, so no half character (and no spurious U+FFFD) is ever emitted; bytes that can never become
/// valid UTF-8 come out as U+FFFD exactly as <see cref="QwenTokenizer.Decode"/> would give them. The concatenated
/// output of Push calls and Flush equals Decode of all the ids. Not thread-safe (one per stream).
/// </summary>
public sealed class StreamingDecoder
{
    private readonly QwenTokenizer tokenizer;
    private readonly GrowableBuffer<byte> pending;

    internal StreamingDecoder(QwenTokenizer tokenizer)
    {
        this.tokenizer = tokenizer;
        // At most 3 bytes are ever held back, so this never grows: Push and TryPush allocate nothing of their own.
        pending = new GrowableBuffer<byte>(tokenizer.MaxTokenByteLength + 3);
    }

    /// <summary>Adds a token; returns the text that is now complete (often empty, never half a character).</summary>
    public string Push(int id)
    {
        int ready = Add(id);
        if (ready == 0) return string.Empty;
        string text = Encoding.UTF8.GetString(pending.Span[..ready]);
        pending.RemoveFront(ready);
        return text;
    }

    /// <summary>Allocation-free <see cref="Push"/>: writes the completed text to destination. Returns false, and
    /// consumes nothing, when destination is too small; a destination as long as the token's bytes plus 3 always fits.</summary>
    public bool TryPush(int id, Span<char> destination, out int charsWritten)
    {
        int before = pending.Length;
        int ready = Add(id);
        charsWritten = 0;
        if (ready == 0) return true;
        var bytes = pending.Span[..ready];
        if (Encoding.UTF8.GetCharCount(bytes) > destination.Length)
        {
            pending.RemoveBack(pending.Length - before);
            return false;
        }
        charsWritten = Encoding.UTF8.GetChars(bytes, destination);
        pending.RemoveFront(ready);
        return true;
    }

    /// <summary>Ends the stream: whatever is held back comes out (an unfinished character as U+FFFD).</summary>
    public string Flush()
    {
        if (pending.Length == 0) return string.Empty;
        string text = Encoding.UTF8.GetString(pending.Span);
        pending.Clear();
        return text;
    }

    /// <summary>Forgets held-back bytes, to start a new stream.</summary>
    public void Reset() => pending.Clear();

    /// <summary>Appends the token's bytes; returns how many leading pending bytes can be decoded now.</summary>
    private int Add(int id)
    {
        pending.Append(tokenizer.TokenBytes(id));
        return pending.Length - IncompleteTailLength(pending.Span);
    }

    /// <summary>Length of a trailing sequence that is a valid but unfinished UTF-8 character (at most 3 bytes).</summary>
    internal static int IncompleteTailLength(ReadOnlySpan<byte> bytes)
    {
        for (int k = 1; k <= 3 && k <= bytes.Length; k++)
        {
            byte b = bytes[^k];
            if ((b & 0xC0) == 0x80) continue;   // continuation byte: the lead may be further back
            if (b < 0xC0) return 0;             // ASCII ends the text cleanly
            return Rune.DecodeFromUtf8(bytes[^k..], out _, out _) == OperationStatus.NeedMoreData ? k : 0;
        }
        return 0;
    }
}

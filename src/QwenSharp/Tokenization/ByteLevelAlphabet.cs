namespace QwenSharp.Tokenization;

/// <summary>GPT-2's byte-to-character mapping that byte-level BPE vocabularies are written in: printable bytes
/// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 bytes take U+0100, U+0101, ... in byte order
/// (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).</summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] byteToChar = new char[256];
    private static readonly Dictionary<char, byte> charToByte = new(256);

    static ByteLevelAlphabet()
    {
        int next = 0x100;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            byteToChar[b] = printable ? (char)b : (char)next++;
            charToByte[byteToChar[b]] = (byte)b;
        }
    }

    public static char CharOf(byte b) => byteToChar[b];

    public static bool TryGetByte(char c, out byte b) => charToByte.TryGetValue(c, out b);

    /// <summary>The bytes a vocabulary string stands for, or null when it holds a character outside the alphabet.</summary>
    public static byte[]? TryDecode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
            if (!charToByte.TryGetValue(token[i], out bytes[i])) return null;
        return bytes;
    }

    /// <summary>The vocabulary spelling of raw bytes.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = byteToChar[bytes[i]];
        return new string(chars);
    }
}

using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>Blocks packed here from chosen scales and quants, following the packing of llama.cpp's reference
/// quantizers (quantize_row_*_ref), then decoded by every rung: the expected values come from the spec formula
/// applied to the chosen numbers, not from any decoder.</summary>
public class KnownBlockTests
{
    public static TheoryData<string> Paths() => new(TensorTestData.SupportedPaths);

    private static void WriteHalf(byte[] block, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(offset), BitConverter.HalfToUInt16Bits((Half)value));

    private static float[] Decode(GgmlType type, byte[] block, int n, string path)
    {
        var y = new float[n];
        Dequantize.Row(type, block, y, TensorTestData.Path(path));
        return y;
    }

    /// <summary>32-element layouts: element j in the low nibble of qs[j], element j+16 in the high nibble.</summary>
    private static void PackNibbles(byte[] block, int offset, int[] q)
    {
        for (int j = 0; j < 16; j++) block[offset + j] = (byte)((q[j] & 15) | (q[j + 16] & 15) << 4);
    }

    private static uint FifthBits(int[] q)
    {
        uint qh = 0;
        for (int j = 0; j < 32; j++) qh |= (uint)((q[j] >> 4) & 1) << j;
        return qh;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q8_0(string path)
    {
        var block = new byte[34];
        WriteHalf(block, 0, 0.25f);
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j * 8 - 128);
        var y = Decode(GgmlType.Q8_0, block, 32, path);
        for (int j = 0; j < 32; j++) Assert.Equal((j * 8 - 128) * 0.25f, y[j]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q4_0(string path)
    {
        var q = Enumerable.Range(0, 32).Select(j => (j * 7 + 3) % 16).ToArray();
        var block = new byte[18];
        WriteHalf(block, 0, -0.5f);
        PackNibbles(block, 2, q);
        var y = Decode(GgmlType.Q4_0, block, 32, path);
        for (int j = 0; j < 32; j++) Assert.Equal((q[j] - 8) * -0.5f, y[j]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q4_1(string path)
    {
        var q = Enumerable.Range(0, 32).Select(j => (j * 5 + 1) % 16).ToArray();
        var block = new byte[20];
        WriteHalf(block, 0, 0.25f);
        WriteHalf(block, 2, -1.5f);
        PackNibbles(block, 4, q);
        var y = Decode(GgmlType.Q4_1, block, 32, path);
        for (int j = 0; j < 32; j++) Assert.Equal(q[j] * 0.25f - 1.5f, y[j]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q5_0(string path)
    {
        var q = Enumerable.Range(0, 32).Select(j => (j * 11 + 5) % 32).ToArray();
        var block = new byte[22];
        WriteHalf(block, 0, 0.125f);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(2), FifthBits(q));
        PackNibbles(block, 6, q);
        var y = Decode(GgmlType.Q5_0, block, 32, path);
        for (int j = 0; j < 32; j++) Assert.Equal((q[j] - 16) * 0.125f, y[j]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q5_1(string path)
    {
        var q = Enumerable.Range(0, 32).Select(j => (j * 13 + 7) % 32).ToArray();
        var block = new byte[24];
        WriteHalf(block, 0, 0.5f);
        WriteHalf(block, 2, 2f);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), FifthBits(q));
        PackNibbles(block, 8, q);
        var y = Decode(GgmlType.Q5_1, block, 32, path);
        for (int j = 0; j < 32; j++) Assert.Equal(q[j] * 0.5f + 2f, y[j]);
    }

    /// <summary>The 2-bit plane packing of Q2_K/Q3_K: for each half of 128, qs[32h + l] holds elements
    /// 128h + l, +32, +64, +96 in bits 0-1, 2-3, 4-5, 6-7.</summary>
    private static void PackTwoBitPlanes(byte[] block, int offset, int[] low2)
    {
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                int e = 128 * h + l;
                block[offset + 32 * h + l] = (byte)((low2[e] & 3) | (low2[e + 32] & 3) << 2 | (low2[e + 64] & 3) << 4 | (low2[e + 96] & 3) << 6);
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q2_K(string path)
    {
        int[] scales = [1, 15, 7, 0, 3, 9, 12, 5, 2, 14, 8, 11, 6, 4, 10, 13];
        int[] mins = [0, 3, 15, 8, 1, 12, 6, 2, 9, 4, 11, 7, 14, 5, 10, 13];
        var q = Enumerable.Range(0, 256).Select(e => (e * 3 + e / 7) % 4).ToArray();
        var block = new byte[84];
        for (int k = 0; k < 16; k++) block[k] = (byte)(scales[k] | mins[k] << 4);
        PackTwoBitPlanes(block, 16, q);
        WriteHalf(block, 80, 0.5f);
        WriteHalf(block, 82, 0.25f);
        var y = Decode(GgmlType.Q2_K, block, 256, path);
        for (int e = 0; e < 256; e++) Assert.Equal((float)(0.5 * scales[e / 16] * q[e] - 0.25 * mins[e / 16]), y[e]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q3_K(string path)
    {
        int[] scales = [0, 63, 32, 17, 48, 5, 40, 31, 1, 62, 33, 16, 47, 20, 55, 9];   // 6-bit, stored biased by 32
        var q = Enumerable.Range(0, 256).Select(e => (e * 5 + e / 9) % 8).ToArray();    // 0..7, value q - 4
        var block = new byte[110];
        for (int e = 0; e < 256; e++)                                                  // high bit of element e: hmask[e % 32] bit e / 32
            if (q[e] > 3) block[e % 32] |= (byte)(1 << (e / 32));
        PackTwoBitPlanes(block, 32, q);
        for (int k = 0; k < 16; k++)
        {
            if (k < 8) block[96 + k] |= (byte)(scales[k] & 15);
            else block[96 + k - 8] |= (byte)((scales[k] & 15) << 4);
            block[96 + 8 + k % 4] |= (byte)((scales[k] >> 4) << (2 * (k / 4)));
        }
        WriteHalf(block, 108, 0.0625f);
        var y = Decode(GgmlType.Q3_K, block, 256, path);
        for (int e = 0; e < 256; e++) Assert.Equal((float)(0.0625 * (scales[e / 16] - 32) * (q[e] - 4)), y[e]);
    }

    /// <summary>Q4_K/Q5_K scale packing: j &lt; 4 in the low 6 bits of bytes j (scale) and j+4 (min); j ≥ 4 low
    /// nibbles in byte j+4, top two bits in bits 6-7 of bytes j-4 (scale) and j (min).</summary>
    private static void PackScaleMin(byte[] block, int offset, int[] scales, int[] mins)
    {
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                block[offset + j] |= (byte)scales[j];
                block[offset + j + 4] |= (byte)mins[j];
            }
            else
            {
                block[offset + j + 4] = (byte)((scales[j] & 15) | (mins[j] & 15) << 4);
                block[offset + j - 4] |= (byte)((scales[j] >> 4) << 6);
                block[offset + j] |= (byte)((mins[j] >> 4) << 6);
            }
        }
    }

    private static readonly int[] KScales = [1, 20, 33, 63, 7, 47, 16, 50];
    private static readonly int[] KMins = [0, 63, 5, 31, 48, 2, 17, 60];

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q4_K(string path)
    {
        var q = Enumerable.Range(0, 256).Select(e => (e * 7 + e / 5) % 16).ToArray();
        var block = new byte[144];
        WriteHalf(block, 0, 0.5f);
        WriteHalf(block, 2, 0.25f);
        PackScaleMin(block, 4, KScales, KMins);
        for (int chunk = 0; chunk < 4; chunk++)
            for (int l = 0; l < 32; l++) block[16 + 32 * chunk + l] = (byte)(q[64 * chunk + l] | q[64 * chunk + 32 + l] << 4);
        var y = Decode(GgmlType.Q4_K, block, 256, path);
        for (int e = 0; e < 256; e++) Assert.Equal((float)(0.5 * KScales[e / 32] * q[e] - 0.25 * KMins[e / 32]), y[e]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q5_K(string path)
    {
        var q = Enumerable.Range(0, 256).Select(e => (e * 11 + e / 3) % 32).ToArray();
        var block = new byte[176];
        WriteHalf(block, 0, 0.125f);
        WriteHalf(block, 2, 0.5f);
        PackScaleMin(block, 4, KScales, KMins);
        for (int chunk = 0; chunk < 4; chunk++)
            for (int l = 0; l < 32; l++)
            {
                int low = q[64 * chunk + l], high = q[64 * chunk + 32 + l];
                block[48 + 32 * chunk + l] = (byte)((low & 15) | (high & 15) << 4);
                block[16 + l] |= (byte)((low >> 4) << (2 * chunk) | (high >> 4) << (2 * chunk + 1));
            }
        var y = Decode(GgmlType.Q5_K, block, 256, path);
        for (int e = 0; e < 256; e++) Assert.Equal((float)(0.125 * KScales[e / 32] * q[e] - 0.5 * KMins[e / 32]), y[e]);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Q6_K(string path)
    {
        int[] scales = [1, -1, 127, -128, 5, -7, 64, -64, 33, -33, 2, 100, -100, 17, -17, 0];
        var q = Enumerable.Range(0, 256).Select(e => (e * 13 + e / 11) % 64).ToArray();   // 0..63, value q - 32
        var block = new byte[210];
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                int e = 128 * h + l;
                block[64 * h + l] = (byte)((q[e] & 15) | (q[e + 64] & 15) << 4);
                block[64 * h + l + 32] = (byte)((q[e + 32] & 15) | (q[e + 96] & 15) << 4);
                block[128 + 32 * h + l] = (byte)((q[e] >> 4) | (q[e + 32] >> 4) << 2 | (q[e + 64] >> 4) << 4 | (q[e + 96] >> 4) << 6);
            }
        for (int k = 0; k < 16; k++) block[192 + k] = (byte)(sbyte)scales[k];
        WriteHalf(block, 208, 0.03125f);
        var y = Decode(GgmlType.Q6_K, block, 256, path);
        for (int e = 0; e < 256; e++) Assert.Equal((float)(0.03125 * scales[e / 16] * (q[e] - 32)), y[e]);
    }
}

using System.Buffers.Binary;
using QwenSharp.Tensors;

namespace QwenSharp.Formats;

/// <summary>What the parser learned from a file's header, metadata and tensor infos.</summary>
internal sealed record GgufLayout(
    uint Version,
    long Alignment,
    long DataOffset,
    GgufMetadata Metadata,
    IReadOnlyList<GgufTensorInfo> Tensors,
    IReadOnlyDictionary<string, GgufTensorInfo> TensorsByName);

/// <summary>Parses and validates everything in a GGUF file except the tensor bytes themselves: header, metadata,
/// tensor infos, and where each tensor's bytes lie. Throws ModelFileException for anything wrong.</summary>
internal static unsafe class GgufParser
{
    public static GgufLayout Parse(string filePath, byte* data, long length)
    {
        var cursor = new GgufCursor(filePath, data, length);
        uint version = ReadHeader(cursor, out ulong tensorCount, out ulong kvCount);
        GgufMetadata metadata = ReadMetadata(cursor, kvCount);
        long alignment = ReadAlignment(cursor, metadata);
        List<GgufTensorInfo> tensors = ReadTensorInfos(cursor, tensorCount, out var byName);
        long dataOffset = cursor.AlignedPosition(alignment);
        CheckTensorPlacement(cursor, tensors, alignment, dataOffset);
        return new GgufLayout(version, alignment, dataOffset, metadata, tensors, byName);
    }

    private static uint ReadHeader(GgufCursor cursor, out ulong tensorCount, out ulong kvCount)
    {
        cursor.Field = "magic";
        uint magic = cursor.ReadU32();
        if (magic != GgufConstants.Magic)
            throw cursor.Fail($"not a GGUF file (the first bytes are 0x{BinaryPrimitives.ReverseEndianness(magic):X8}, expected \"GGUF\")");

        cursor.Field = "version";
        uint version = cursor.ReadU32();
        if (version != 2 && version != 3)
        {
            uint swapped = BinaryPrimitives.ReverseEndianness(version);
            if (swapped is 2 or 3) throw cursor.Fail("big-endian GGUF files are not supported");
            if (version == 1) throw cursor.Fail("GGUF version 1 is not supported (only versions 2 and 3)");
            throw cursor.Fail($"unsupported GGUF version {version} (only versions 2 and 3)");
        }

        cursor.Field = "tensor count";
        tensorCount = cursor.ReadU64();
        cursor.Field = "metadata count";
        kvCount = cursor.ReadU64();

        // Each entry takes some minimum number of bytes, so counts the rest of the file cannot hold are refused
        // before any list is sized from them.
        ulong left = (ulong)cursor.Remaining;
        if (kvCount > left / GgufConstants.MinKeyValueSize)
            throw cursor.Fail($"metadata count {kvCount} is impossible: only {left} bytes follow the header (truncated or corrupt file)");
        if (tensorCount > left / GgufConstants.MinTensorInfoSize
            || kvCount * GgufConstants.MinKeyValueSize + tensorCount * GgufConstants.MinTensorInfoSize > left)
            throw cursor.Fail($"tensor count {tensorCount} is impossible: only {left} bytes follow the header (truncated or corrupt file)");
        if (kvCount > int.MaxValue || tensorCount > int.MaxValue)
            throw cursor.Fail($"{kvCount} metadata entries and {tensorCount} tensors are more than QwenSharp can list");
        return version;
    }

    private static GgufMetadata ReadMetadata(GgufCursor cursor, ulong kvCount)
    {
        var ordered = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        var byKey = new Dictionary<string, GgufValue>((int)kvCount, StringComparer.Ordinal);
        cursor.Section = "metadata entry";
        for (long i = 0; i < (long)kvCount; i++)
        {
            cursor.Index = i;
            cursor.Item = -1;
            cursor.Field = "key";
            string key = cursor.ReadString();
            string shownKey = GgufPrintable.Name(key);
            cursor.Field = "value type of " + shownKey;
            var type = (GgufValueType)cursor.ReadU32();
            if (!GgufValueTypes.IsKnown(type))
                throw cursor.Fail($"metadata key {shownKey} has unknown value type {(uint)type}");
            cursor.Field = "value of " + shownKey;
            GgufValue value = GgufValueReader.Read(cursor, type, depth: 0);
            if (!byKey.TryAdd(key, value)) throw cursor.Fail($"duplicate metadata key {shownKey}");
            ordered.Add(new(key, value));
        }
        cursor.Item = -1;
        return new GgufMetadata(ordered, byKey);
    }

    private static long ReadAlignment(GgufCursor cursor, GgufMetadata metadata)
    {
        if (!metadata.TryGetValue(GgufConstants.AlignmentKey, out GgufValue? value)) return GgufConstants.DefaultAlignment;
        if (!value.IsInteger)
            throw cursor.Fail($"{GgufConstants.AlignmentKey} has type {GgufValueTypes.Name(value.Type)}, expected an integer");
        bool fitsLong = value.Value is not ulong big || big <= long.MaxValue;
        long alignment = fitsLong ? value.AsInt64() : long.MaxValue;
        if (alignment <= 0 || (fitsLong && (alignment & (alignment - 1)) != 0))
            throw cursor.Fail($"{GgufConstants.AlignmentKey} = {value} is not a power of two");
        if (alignment > GgufConstants.MaxAlignment)
            throw cursor.Fail($"{GgufConstants.AlignmentKey} = {value} is unreasonably large (at most {GgufConstants.MaxAlignment})");
        return alignment;
    }

    private static List<GgufTensorInfo> ReadTensorInfos(GgufCursor cursor, ulong tensorCount,
        out Dictionary<string, GgufTensorInfo> byName)
    {
        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        byName = new Dictionary<string, GgufTensorInfo>((int)tensorCount, StringComparer.Ordinal);
        Span<long> dims = stackalloc long[GgufConstants.MaxDims];
        cursor.Section = "tensor info";
        for (int i = 0; i < (int)tensorCount; i++)
        {
            cursor.Index = i;
            cursor.Field = "name";
            string name = cursor.ReadString();
            string shownName = GgufPrintable.Name(name);

            cursor.Field = "dimension count";
            uint dimCount = cursor.ReadU32();
            if (dimCount > GgufConstants.MaxDims)
                throw cursor.Fail($"tensor {shownName} has {dimCount} dimensions (at most {GgufConstants.MaxDims})");
            cursor.Field = "dimensions";
            for (int d = 0; d < dimCount; d++)
            {
                ulong ne = cursor.ReadU64();
                // A u64 above long.MaxValue is negative as a long, which the shape check rejects.
                dims[d] = (long)ne;
            }

            cursor.Field = "type";
            var type = (GgmlType)cursor.ReadU32();
            cursor.Field = "offset";
            ulong offset = cursor.ReadU64();

            long[] shape = dims[..(int)dimCount].ToArray();
            string? problem = GgufTensorShape.Check(type, shape, out long elementCount, out long byteSize);
            if (problem != null) throw cursor.Fail($"tensor {shownName} {problem}");
            if (offset > (ulong)cursor.Length)
                throw cursor.Fail($"truncated: tensor {shownName} starts at data offset {offset}, past the end of the {cursor.Length}-byte file");

            var info = new GgufTensorInfo(name, type, shape, elementCount, byteSize, (long)offset, i);
            if (!byName.TryAdd(name, info)) throw cursor.Fail($"duplicate tensor name {shownName}");
            tensors.Add(info);
        }
        return tensors;
    }

    private static void CheckTensorPlacement(GgufCursor cursor, List<GgufTensorInfo> tensors, long alignment, long dataOffset)
    {
        if (tensors.Count == 0) return;
        // Padding after the last tensor info only has to exist when tensor data follows it.
        if (dataOffset > cursor.Length)
            throw cursor.Fail($"truncated: the data section would start at byte {dataOffset} but the file is only {cursor.Length} bytes");
        long dataLength = cursor.Length - dataOffset;

        foreach (GgufTensorInfo t in tensors)
        {
            if (t.Offset % alignment != 0)
                throw cursor.Fail($"tensor {GgufPrintable.Name(t.Name)} offset {t.Offset} is not a multiple of the alignment {alignment}");
            if (t.Offset > dataLength || t.ByteSize > dataLength - t.Offset)
                throw cursor.Fail($"truncated: tensor {GgufPrintable.Name(t.Name)} data ({t.ByteSize} bytes at data offset {t.Offset}) "
                    + $"runs past the end of the file (the data section has {dataLength} bytes)");
        }

        var byOffset = tensors.ToArray();
        Array.Sort(byOffset, (a, b) => a.Offset.CompareTo(b.Offset));
        for (int i = 1; i < byOffset.Length; i++)
        {
            GgufTensorInfo prev = byOffset[i - 1], cur = byOffset[i];
            if (prev.Offset + prev.ByteSize > cur.Offset)
                throw cursor.Fail($"tensors {GgufPrintable.Name(prev.Name)} and {GgufPrintable.Name(cur.Name)} overlap in the data section");
        }
    }
}

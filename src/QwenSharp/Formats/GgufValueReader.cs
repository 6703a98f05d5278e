using System.Runtime.InteropServices;

namespace QwenSharp.Formats;

/// <summary>Reads one metadata value (scalar, string or array, arrays possibly nested) at the cursor. Every count is
/// checked against the bytes left in the file before anything is allocated for it.</summary>
internal static class GgufValueReader
{
    public static GgufValue Read(GgufCursor cursor, GgufValueType type, int depth)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return GgufValue.From(cursor.ReadU8());
            case GgufValueType.Int8: return GgufValue.From((sbyte)cursor.ReadU8());
            case GgufValueType.UInt16: return GgufValue.From(cursor.ReadU16());
            case GgufValueType.Int16: return GgufValue.From((short)cursor.ReadU16());
            case GgufValueType.UInt32: return GgufValue.From(cursor.ReadU32());
            case GgufValueType.Int32: return GgufValue.From((int)cursor.ReadU32());
            case GgufValueType.UInt64: return GgufValue.From(cursor.ReadU64());
            case GgufValueType.Int64: return GgufValue.From((long)cursor.ReadU64());
            case GgufValueType.Float32: return GgufValue.From(BitConverter.UInt32BitsToSingle(cursor.ReadU32()));
            case GgufValueType.Float64: return GgufValue.From(BitConverter.UInt64BitsToDouble(cursor.ReadU64()));
            case GgufValueType.Bool: return GgufValue.From(cursor.ReadU8() != 0);
            case GgufValueType.String: return GgufValue.From(cursor.ReadString());
            case GgufValueType.Array: return GgufValue.From(ReadArray(cursor, depth + 1));
            default: throw cursor.Fail($"{cursor.Where} has unknown value type {(uint)type}");
        }
    }

    private static GgufArray ReadArray(GgufCursor cursor, int depth)
    {
        if (depth > GgufConstants.MaxArrayDepth)
            throw cursor.Fail($"{cursor.Where} nests arrays deeper than {GgufConstants.MaxArrayDepth} levels");

        var elementType = (GgufValueType)cursor.ReadU32();
        if (!GgufValueTypes.IsKnown(elementType))
            throw cursor.Fail($"{cursor.Where} is an array of unknown value type {(uint)elementType}");
        ulong count = cursor.ReadU64();
        long minSize = GgufValueTypes.MinEncodedSize(elementType);
        if (count > (ulong)(cursor.Remaining / minSize))
            throw cursor.Truncated($"array of {count} {GgufValueTypes.Name(elementType)} items cannot fit in the {cursor.Remaining} bytes left");
        if (count > (ulong)System.Array.MaxLength)
            throw cursor.Fail($"{cursor.Where} is an array of {count} items, more than .NET arrays can hold");
        int n = (int)count;

        long outerItem = cursor.Item;
        GgufArray result = elementType switch
        {
            GgufValueType.UInt8 => new(elementType, Numbers<byte>(cursor, n)),
            GgufValueType.Int8 => new(elementType, Numbers<sbyte>(cursor, n)),
            GgufValueType.UInt16 => new(elementType, Numbers<ushort>(cursor, n)),
            GgufValueType.Int16 => new(elementType, Numbers<short>(cursor, n)),
            GgufValueType.UInt32 => new(elementType, Numbers<uint>(cursor, n)),
            GgufValueType.Int32 => new(elementType, Numbers<int>(cursor, n)),
            GgufValueType.UInt64 => new(elementType, Numbers<ulong>(cursor, n)),
            GgufValueType.Int64 => new(elementType, Numbers<long>(cursor, n)),
            GgufValueType.Float32 => new(elementType, Numbers<float>(cursor, n)),
            GgufValueType.Float64 => new(elementType, Numbers<double>(cursor, n)),
            GgufValueType.Bool => new(elementType, Bools(cursor, n)),
            GgufValueType.String => new(elementType, Strings(cursor, n)),
            _ => new(elementType, Nested(cursor, n, depth)),
        };
        cursor.Item = outerItem;
        return result;
    }

    /// <summary>Numbers are stored little-endian, which is this process's byte order, so a block copy suffices.</summary>
    private static T[] Numbers<T>(GgufCursor cursor, int n) where T : unmanaged
    {
        ReadOnlySpan<byte> bytes = cursor.ReadBytes((long)n * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    /// <summary>Any non-zero byte is true; copied byte by byte so no bool ever holds a value other than 0 or 1.</summary>
    private static bool[] Bools(GgufCursor cursor, int n)
    {
        ReadOnlySpan<byte> bytes = cursor.ReadBytes(n);
        var result = new bool[n];
        for (int i = 0; i < n; i++) result[i] = bytes[i] != 0;
        return result;
    }

    private static string[] Strings(GgufCursor cursor, int n)
    {
        var result = new string[n];
        for (int i = 0; i < n; i++)
        {
            cursor.Item = i;
            result[i] = cursor.ReadString();
        }
        return result;
    }

    private static GgufValue[] Nested(GgufCursor cursor, int n, int depth)
    {
        var result = new GgufValue[n];
        for (int i = 0; i < n; i++)
        {
            cursor.Item = i;
            result[i] = GgufValue.From(ReadArray(cursor, depth + 1));
        }
        return result;
    }
}

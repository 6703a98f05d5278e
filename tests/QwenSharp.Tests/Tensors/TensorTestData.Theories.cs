using QwenSharp.Tensors;

namespace QwenSharp.Tests.Tensors;

/// <summary>xunit theory data over the weight types and rungs (the rest of TensorTestData is also compiled into
/// bench/QwenSharp.Bench's kernel microbenchmarks, which have no xunit).</summary>
internal static partial class TensorTestData
{
    public static TheoryData<GgmlType, string> TypesAndPaths()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in WeightTypes)
            foreach (var path in SupportedPaths) data.Add(type, path);
        return data;
    }

    public static TheoryData<GgmlType> Types()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var type in WeightTypes) data.Add(type);
        return data;
    }
}

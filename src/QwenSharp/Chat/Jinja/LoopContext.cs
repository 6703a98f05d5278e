namespace QwenSharp.Chat.Jinja;

/// <summary>The "loop" variable inside a for loop: index/index0/revindex/revindex0/first/last/length,
/// previtem/nextitem (undefined at the ends), depth/depth0, cycle(...) and changed(...).</summary>
internal sealed class LoopContext(List<object?> items)
{
    private readonly List<object?> _items = items;
    private List<object?>? _lastChanged;

    public int Index0 { get; set; }

    public object? Get(string name)
    {
        int n = _items.Count;
        return name switch
        {
            "index0" => (long)Index0,
            "index" => (long)Index0 + 1,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? _items[Index0 - 1] : new Undefined("there is no previous item"),
            "nextitem" => Index0 < n - 1 ? _items[Index0 + 1] : new Undefined("there is no next item"),
            "cycle" => new BuiltinFunction("loop.cycle", (_, args) =>
            {
                if (args.Positional.Count == 0) throw new TemplateError("no items for cycling given");
                return args.Positional[Index0 % args.Positional.Count];
            }),
            "changed" => new BuiltinFunction("loop.changed", (_, args) =>
            {
                if (_lastChanged is not null && _lastChanged.Count == args.Positional.Count
                    && _lastChanged.Zip(args.Positional).All(p => PyOps.Equal(p.First, p.Second)))
                    return false;
                _lastChanged = [.. args.Positional];
                return true;
            }),
            _ => Undefined.Member(this, name),
        };
    }
}

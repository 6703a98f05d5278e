using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace QwenSharp.Chat.Jinja;

/// <summary>
/// Splits a template into text and tag tokens with the whitespace rules of HuggingFace's Jinja environment:
/// trim_blocks (one newline after a block or comment tag is dropped), lstrip_blocks (spaces and tabs between the
/// start of a line and a block or comment tag are dropped), "-" strips all whitespace on its side, "+" keeps it,
/// and keep_trailing_newline is off (one newline at the very end of the source is dropped).
/// Line endings are normalised to "\n" first, as Jinja does.
/// </summary>
internal sealed partial class Lexer
{
    private readonly string _src;
    private readonly int[] _lineStarts;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true; // the previous tag's end consumed a newline (or nothing was read yet)

    private Lexer(string source)
    {
        string s = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (s.EndsWith('\n')) s = s[..^1];
        _src = s;
        var starts = new List<int> { 0 };
        for (int i = 0; i < s.Length; i++)
            if (s[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private SourcePos PosOf(int offset)
    {
        int line = Array.BinarySearch(_lineStarts, offset);
        if (line < 0) line = ~line - 1;
        return new SourcePos(line + 1, offset - _lineStarts[line] + 1);
    }

    private TemplateError Error(string message, int offset) => new(message, PosOf(offset));

    private void Run()
    {
        while (true)
        {
            int start = FindTagStart(_pos, out char kind);
            if (start < 0)
            {
                EmitData(_src[_pos..], _pos);
                break;
            }
            int signAt = start + 2;
            char sign = signAt < _src.Length && (_src[signAt] == '-' || _src[signAt] == '+') ? _src[signAt] : '\0';
            string text = _src[_pos..start];
            if (sign == '-')
                text = PyText.RStrip(text);
            else if (sign != '+' && kind != '{')
                text = LStripBlock(text);
            EmitData(text, _pos);
            int after = signAt + (sign == '\0' ? 0 : 1);
            if (kind == '#') LexComment(start, after);
            else if (kind == '%' && TryLexRaw(start)) { }
            else LexTag(kind, start, after);
        }
        _tokens.Add(new Token(TokenKind.Eof, "", PosOf(_src.Length)));
    }

    /// <summary>lstrip_blocks: drop the whitespace between the line start and the tag, when that is all there is.</summary>
    private string LStripBlock(string text)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !_lineStarting) return text;
        if (lineStart == text.Length) return text;
        for (int i = lineStart; i < text.Length; i++)
            if (!PyText.IsSpace(text[i])) return text;
        return text[..lineStart];
    }

    private int FindTagStart(int from, out char kind)
    {
        for (int i = from; i + 1 < _src.Length; i++)
        {
            if (_src[i] != '{') continue;
            char next = _src[i + 1];
            if (next is '{' or '%' or '#')
            {
                kind = next;
                return i;
            }
        }
        kind = '\0';
        return -1;
    }

    private void EmitData(string text, int offset)
    {
        if (text.Length > 0) _tokens.Add(new Token(TokenKind.Data, text, PosOf(offset)));
    }

    private void LexComment(int start, int after)
    {
        int close = _src.IndexOf("#}", after, StringComparison.Ordinal);
        if (close < 0) throw Error("missing end of comment tag '#}'", start);
        char sign = close - 1 >= after && (_src[close - 1] == '-' || _src[close - 1] == '+') ? _src[close - 1] : '\0';
        EndTag(close + 2, sign, trims: true);
    }

    /// <summary>Moves past a tag's end: "-" eats all following whitespace, "+" nothing, a plain block end (with
    /// trim_blocks) one newline.</summary>
    private void EndTag(int p, char sign, bool trims)
    {
        if (sign == '-')
            while (p < _src.Length && PyText.IsSpace(_src[p])) p++;
        else if (sign != '+' && trims && p < _src.Length && _src[p] == '\n')
            p++;
        _lineStarting = p > 0 && _src[p - 1] == '\n';
        _pos = p;
    }

    [GeneratedRegex(@"\G\{%[-+]?\s*raw\s*(-?)%\}")]
    private static partial Regex RawBegin();

    [GeneratedRegex(@"\{%([-+]?)\s*endraw\s*([-+]?)%\}")]
    private static partial Regex RawEnd();

    /// <summary>{% raw %}...{% endraw %}: the text between is output as it is.</summary>
    private bool TryLexRaw(int start)
    {
        Match begin = RawBegin().Match(_src, start);
        if (!begin.Success) return false;
        int p = begin.Index + begin.Length;
        if (begin.Groups[1].Value == "-")
            while (p < _src.Length && PyText.IsSpace(_src[p])) p++;
        Match end = RawEnd().Match(_src, p);
        if (!end.Success) throw Error("missing '{% endraw %}'", start);
        string text = _src[p..end.Index];
        if (end.Groups[1].Value == "-") text = PyText.RStrip(text);
        EmitData(text, p);
        char sign = end.Groups[2].Value is { Length: 1 } s ? s[0] : '\0';
        EndTag(end.Index + end.Length, sign, trims: true);
        return true;
    }

    private void LexTag(char kind, int start, int p)
    {
        bool block = kind == '%';
        _tokens.Add(new Token(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, block ? "{%" : "{{", PosOf(start)));
        int depth = 0;
        while (true)
        {
            while (p < _src.Length && PyText.IsSpace(_src[p])) p++;
            if (p >= _src.Length)
                throw Error($"unexpected end of template: tag is not closed with '{(block ? "%}" : "}}")}'", start);
            if (depth == 0 && TryTagEnd(block, p)) return;
            p = LexToken(p, ref depth);
        }
    }

    private bool TryTagEnd(bool block, int p)
    {
        string close = block ? "%}" : "}}";
        char sign = '\0';
        int at = p;
        if ((_src[p] == '-' || (block && _src[p] == '+')) && string.CompareOrdinal(_src, p + 1, close, 0, 2) == 0)
        {
            sign = _src[p];
            at = p + 1;
        }
        else if (string.CompareOrdinal(_src, p, close, 0, 2) != 0)
            return false;
        _tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, PosOf(p)));
        EndTag(at + 2, sign, trims: block);
        return true;
    }

    private static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", "<=", ">="];
    private const string OneCharOperators = "+-/*%~[](){}<>=.:|,;";

    private int LexToken(int p, ref int depth)
    {
        char c = _src[p];
        if (char.IsAsciiDigit(c)) return LexNumber(p);
        if (c == '_' || char.IsLetter(c))
        {
            int e = p + 1;
            while (e < _src.Length && (_src[e] == '_' || char.IsLetterOrDigit(_src[e]))) e++;
            _tokens.Add(new Token(TokenKind.Name, _src[p..e], PosOf(p)));
            return e;
        }
        if (c is '\'' or '"') return LexString(p);
        foreach (string op in TwoCharOperators)
        {
            if (string.CompareOrdinal(_src, p, op, 0, 2) == 0)
            {
                _tokens.Add(new Token(TokenKind.Operator, op, PosOf(p)));
                return p + 2;
            }
        }
        if (OneCharOperators.Contains(c))
        {
            if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}' && depth > 0) depth--;
            _tokens.Add(new Token(TokenKind.Operator, c.ToString(), PosOf(p)));
            return p + 1;
        }
        throw Error($"unexpected character '{c}'", p);
    }

    private int LexNumber(int p)
    {
        int start = p;
        if (_src[p] == '0' && p + 1 < _src.Length && "xXoObB".Contains(_src[p + 1]))
        {
            int radix = char.ToLowerInvariant(_src[p + 1]) switch { 'x' => 16, 'o' => 8, _ => 2 };
            int e = p + 2;
            while (e < _src.Length && (_src[e] == '_' || Uri.IsHexDigit(_src[e]))) e++;
            string digits = _src[(p + 2)..e].Replace("_", "");
            try
            {
                long v = Convert.ToInt64(digits, radix);
                _tokens.Add(new Token(TokenKind.Integer, _src[start..e], PosOf(start), v));
            }
            catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
            {
                throw Error($"invalid number literal '{_src[start..e]}'", start);
            }
            return e;
        }
        p = SkipDigits(p);
        bool isFloat = false;
        if (p + 1 < _src.Length && _src[p] == '.' && char.IsAsciiDigit(_src[p + 1]))
        {
            p = SkipDigits(p + 1);
            isFloat = true;
        }
        if (p < _src.Length && (_src[p] == 'e' || _src[p] == 'E'))
        {
            int q = p + 1;
            if (q < _src.Length && (_src[q] == '+' || _src[q] == '-')) q++;
            if (q < _src.Length && char.IsAsciiDigit(_src[q]))
            {
                p = SkipDigits(q);
                isFloat = true;
            }
        }
        string text = _src[start..p];
        string clean = text.Replace("_", "");
        if (isFloat)
            _tokens.Add(new Token(TokenKind.Float, text, PosOf(start), double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture)));
        else if (long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out long v))
            _tokens.Add(new Token(TokenKind.Integer, text, PosOf(start), v));
        else
            throw Error($"integer literal '{text}' is too large", start);
        return p;
    }

    private int SkipDigits(int p)
    {
        while (p < _src.Length && (char.IsAsciiDigit(_src[p]) || (_src[p] == '_' && p + 1 < _src.Length && char.IsAsciiDigit(_src[p + 1])))) p++;
        return p;
    }

    private int LexString(int p)
    {
        char quote = _src[p];
        int i = p + 1;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= _src.Length) throw Error("unterminated string literal", p);
            char c = _src[i];
            if (c == quote) break;
            if (c != '\\')
            {
                sb.Append(c);
                i++;
                continue;
            }
            if (i + 1 >= _src.Length) throw Error("unterminated string literal", p);
            i = DecodeEscape(i, sb);
        }
        _tokens.Add(new Token(TokenKind.String, sb.ToString(), PosOf(p)));
        return i + 1;
    }

    /// <summary>One backslash escape as Python's unicode-escape codec reads it; unknown escapes stay as written.</summary>
    private int DecodeEscape(int i, StringBuilder sb)
    {
        char e = _src[i + 1];
        switch (e)
        {
            case '\n': return i + 2; // line continuation
            case '\\': sb.Append('\\'); return i + 2;
            case '\'': sb.Append('\''); return i + 2;
            case '"': sb.Append('"'); return i + 2;
            case 'a': sb.Append('\a'); return i + 2;
            case 'b': sb.Append('\b'); return i + 2;
            case 'f': sb.Append('\f'); return i + 2;
            case 'n': sb.Append('\n'); return i + 2;
            case 'r': sb.Append('\r'); return i + 2;
            case 't': sb.Append('\t'); return i + 2;
            case 'v': sb.Append('\v'); return i + 2;
            case 'x': return AppendHex(i, 2, sb);
            case 'u': return AppendHex(i, 4, sb);
            case 'U': return AppendHex(i, 8, sb);
        }
        if (e >= '0' && e <= '7')
        {
            int j = i + 1, value = 0;
            while (j < _src.Length && j < i + 4 && _src[j] >= '0' && _src[j] <= '7') value = value * 8 + (_src[j++] - '0');
            sb.Append((char)value);
            return j;
        }
        sb.Append('\\').Append(e);
        return i + 2;
    }

    private int AppendHex(int i, int digits, StringBuilder sb)
    {
        int start = i + 2;
        if (start + digits > _src.Length || !int.TryParse(_src.AsSpan(start, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value)
            || _src.AsSpan(start, digits).ContainsAny("+- "))
            throw Error($"truncated \\{_src[i + 1]} escape in string literal", i);
        if (value > 0x10FFFF) throw Error("illegal Unicode character in string literal", i);
        sb.Append(char.ConvertFromUtf32(value is >= 0xD800 and <= 0xDFFF ? 0xFFFD : value));
        return start + digits;
    }
}

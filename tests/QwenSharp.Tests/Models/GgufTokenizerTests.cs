using QwenSharp.Formats;
using QwenSharp.Models;
using QwenSharp.Tokenization;

namespace QwenSharp.Tests.Models;

/// <summary>The tokenizer a model builds from its GGUF metadata must be the HF tokenizer: same ids for the same
/// text, whether or not the file names its pre-tokenizer.</summary>
public class GgufTokenizerTests
{
    private static readonly Lazy<string> RealVocabModel = new(() =>
    {
        string path = Path.Combine(TestPaths.NewTempDir("gguf-tokenizer"), "real-vocab.gguf");
        SyntheticQwen2.Write(path, SyntheticModels.Tiny with { VocabRows = 151936 }, RealVocabulary.Get());
        return path;
    });

    private static readonly string[] Samples =
    [
        "Hello world", " Hello world", "你好，世界！今天天气很好。", "Привет, мир! Ça va? ¿Qué tal?", "안녕하세요 こんにちは สวัสดี مرحبا",
        "def f(x):\n    return x ** 2  # square\n\n\n", "1234567890 3.14159 1,000,000", "😀👍🏽👨‍👩‍👧 🇫🇷", "e\u0301 A\u030A \u212B",
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "I'LL say it's   tabs\t\tand\r\nnewlines   ",
    ];

    [Fact]
    public void GgufVocabularyEncodesLikeTheHuggingFaceFile()
    {
        var hf = QwenTokenizer.FromHuggingFaceJson(TestPaths.SharedTokenizerJson);
        using var model = Qwen2Model.Load(RealVocabModel.Value);
        Assert.Equal([9707, 1879], model.Tokenizer.Encode("Hello world"));
        foreach (string s in Samples)
        {
            Assert.Equal(hf.Encode(s), model.Tokenizer.Encode(s));
            Assert.Equal(hf.Decode(hf.Encode(s)), model.Tokenizer.Decode(model.Tokenizer.Encode(s)));
        }
        Assert.Equal(151645, model.Special.ImEnd);
        Assert.Equal(151643, model.Special.EndOfText);
        Assert.Contains(151645, model.Special.StopTokens);
        Assert.Contains(151643, model.Special.StopTokens);
    }

    [Fact]
    public void AFileWithoutTokenizerPreStillGetsTheQwen2PreTokenizer()
    {
        string path = Path.Combine(TestPaths.NewTempDir("no-pre"), "no-pre.gguf");
        using (var source = GgufFile.Open(RealVocabModel.Value))
        {
            var w = new GgufWriter();
            foreach (var (key, value) in source.Metadata)
                if (key != "tokenizer.ggml.pre") w.Add(key, value);
            foreach (var t in source.Tensors) w.AddTensor(t.Name, t.Type, t.Dims, source.GetTensorSpan(t).ToArray());
            w.Write(path);
        }
        using var withPre = Qwen2Model.Load(RealVocabModel.Value);
        using var withoutPre = Qwen2Model.Load(path);
        foreach (string s in Samples) Assert.Equal(withPre.Tokenizer.Encode(s), withoutPre.Tokenizer.Encode(s));
    }

    [Fact]
    public void UnsupportedTokenizerModelIsAClearError()
    {
        string path = TokenizerModelRewrite.TinyF32With("bert", "wpm-vocab");
        var e = Assert.Throws<ModelFileException>(() => Qwen2Model.Load(path));
        Assert.Contains("tokenizer.ggml.model", e.Message);
    }
}

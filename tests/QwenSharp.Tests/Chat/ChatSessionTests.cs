using QwenSharp.Chat;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tests.Models;

namespace QwenSharp.Tests.Chat;

public class ChatSessionTests
{
    [Fact]
    public void LaterTurnsReuseTheCacheAndMatchTheTemplateRendering()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 256, Threads = 2, KvCacheType = KvCacheType.F32 });
        var gen = new Generator(ctx);
        var chat = new ChatSession(gen);
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 8 };

        chat.Send("Hi", options);
        Assert.Equal(0, chat.LastReusedTokens);
        int cachedAfterFirst = gen.CachedTokens.Count;
        chat.Send("How are you?", options);
        Assert.Equal(cachedAfterFirst, chat.LastReusedTokens);

        // The cache holds exactly the template's rendering of the conversation (up to the last reply's tokens).
        string expectedPrefix = ChatMlTemplate.Render(chat.Messages.Take(3).ToList(), addGenerationPrompt: false)
            + ChatMlTemplate.RenderTurn(chat.Messages[3]) + ChatMlTemplate.GenerationPrompt;
        Assert.StartsWith(expectedPrefix, model.Tokenizer.Decode(gen.CachedTokens.ToArray()));

        chat.Clear();
        chat.Send("Hi", options);
        Assert.Equal(0, chat.LastReusedTokens);
    }
}

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
        int cachedAfterFirst = gen.CachedTokens.Count; // the whole cache is reused by the next turn
        chat.Send("How are you?", options);
        Assert.Equal(cachedAfterFirst, chat.LastReusedTokens);

        // The transcript is exactly the template's rendering of the conversation, ending in the open last reply.
        Assert.Equal(4, chat.Messages.Count);
        string expectedPrefix = ChatMlTemplate.Render(chat.Messages.Take(3).ToList(), addGenerationPrompt: true) + chat.Messages[3].Content;
        string transcript = model.Tokenizer.Decode(gen.Transcript.ToArray());
        Assert.Equal(expectedPrefix, transcript);

        chat.Clear();
        chat.Send("Hi", options);
        Assert.Equal(0, chat.LastReusedTokens);
    }
}

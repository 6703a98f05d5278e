using System.Text.Json.Nodes;
using QwenSharp.Chat;
using QwenSharp.Generation;
using QwenSharp.Models;
using QwenSharp.Tests.Models;

namespace QwenSharp.Tests.Chat;

public class ChatPromptFormatterTests
{
    [Fact]
    public void TheModelsTemplateIsUsedAndMatchesTheBuiltInChatMl()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        var formatter = ChatPromptFormatter.ForModel(model);
        Assert.True(formatter.UsesModelTemplate);
        Assert.Null(formatter.FallbackReason);
        // The synthetic model carries Qwen1.5's template: rendered by the engine it equals the hand-written ChatML,
        // default system prompt included.
        ChatMessage[] conversation = [ChatMessage.User("Hi"), ChatMessage.Assistant("Hello!"), ChatMessage.User("Bye")];
        Assert.Equal(ChatMlTemplate.Render(conversation), formatter.Format(conversation));
        Assert.Equal(ChatMlTemplate.Render(conversation, addGenerationPrompt: false), formatter.Format(conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void WithoutATemplateChatMlIsUsed()
    {
        var f = ChatPromptFormatter.ChatMl;
        Assert.False(f.UsesModelTemplate);
        Assert.Equal(ChatMlTemplate.Render([ChatMessage.User("x")]), f.Format([ChatMessage.User("x")]));
        Assert.Throws<QwenSharpException>(() => f.Format(new ChatTemplateInput()));
    }

    [Fact]
    public void ToolsAndTokensReachTheTemplate()
    {
        var f = ChatPromptFormatter.FromTemplate("{{ bos_token }}{% for t in tools %}{{ t.function.name }};{% endfor %}{{ messages|length }}{{ eos_token }}", "<s>", "</s>");
        var tool = JsonNode.Parse("""{"type": "function", "function": {"name": "get_time"}}""")!;
        Assert.Equal("<s>get_time;1</s>", f.Format([ChatMessage.User("t")], tools: [tool]));
        Assert.Equal("<s>get_time;0</s>", f.Format(ChatTemplateInput.FromJson("[]", """[{"function": {"name": "get_time"}}]""")));
    }

    [Fact]
    public void JinjaRenderedTurnsStillReuseTheCache()
    {
        using var model = Qwen2Model.Load(SyntheticModels.TinyF32);
        using var ctx = new Qwen2Context(model, new ContextOptions { ContextLength = 256, Threads = 2, KvCacheType = KvCacheType.F32 });
        var gen = new Generator(ctx);
        var formatter = ChatPromptFormatter.ForModel(model);
        var chat = new ChatSession(gen, formatter: formatter);
        var options = new GenerationOptions { Sampling = SamplingOptions.Greedy, MaxTokens = 8 };

        var first = chat.Send("Hi", options);
        Assert.Equal(0, chat.LastReusedTokens);
        var second = chat.Send("How are you?", options);
        // The whole conversation was rendered again, and at least the first turn's prompt came from the cache.
        Assert.True(chat.LastReusedTokens >= first.PromptTokens, $"reused {chat.LastReusedTokens} of {second.PromptTokens}, first prompt {first.PromptTokens}");
        Assert.True(second.PromptTokens > first.PromptTokens + first.Tokens.Count);

        // The cache holds exactly the template's rendering of the conversation, then the open last reply.
        string expected = formatter.Format(chat.Messages.Take(3).ToList()) + chat.Messages[3].Content;
        Assert.Equal(expected, model.Tokenizer.Decode(gen.Transcript.ToArray()));
    }
}

using QwenSharp.Chat;

namespace QwenSharp.Tests.Chat;

/// <summary>Expected strings written out by hand from the Jinja template in QWEN15.md §4:
/// {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '&lt;|im_start|&gt;system\nYou are a helpful assistant.&lt;|im_end|&gt;\n' }}{% endif %}
/// {{'&lt;|im_start|&gt;' + message['role'] + '\n' + message['content'] + '&lt;|im_end|&gt;' + '\n'}}{% endfor %}
/// {% if add_generation_prompt %}{{ '&lt;|im_start|&gt;assistant\n' }}{% endif %}</summary>
public class ChatMlTemplateTests
{
    [Fact]
    public void SingleUserMessageGetsTheDefaultSystemPrompt()
    {
        string got = ChatMlTemplate.Render([new ChatMessage("user", "Hello!")]);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHello!<|im_end|>\n" +
            "<|im_start|>assistant\n", got);
    }

    [Fact]
    public void ExplicitSystemMessageReplacesTheDefault()
    {
        string got = ChatMlTemplate.Render([ChatMessage.System("Answer in French."), ChatMessage.User("Hi")]);
        Assert.Equal(
            "<|im_start|>system\nAnswer in French.<|im_end|>\n" +
            "<|im_start|>user\nHi<|im_end|>\n" +
            "<|im_start|>assistant\n", got);
    }

    [Fact]
    public void MultiTurnConversationWithoutGenerationPrompt()
    {
        string got = ChatMlTemplate.Render(
        [
            ChatMessage.User("What is 2+2?"),
            ChatMessage.Assistant("4"),
            ChatMessage.User("And times 3?\nShow work."),
            ChatMessage.Assistant("4 * 3 = 12"),
        ], addGenerationPrompt: false);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd times 3?\nShow work.<|im_end|>\n" +
            "<|im_start|>assistant\n4 * 3 = 12<|im_end|>\n", got);
    }

    [Fact]
    public void SystemMessageLaterInTheListDoesNotSuppressTheDefault()
    {
        // Only messages[0] is checked, so a system message in second place is rendered after the default one.
        string got = ChatMlTemplate.Render([ChatMessage.User("a"), ChatMessage.System("b")], addGenerationPrompt: false);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\na<|im_end|>\n" +
            "<|im_start|>system\nb<|im_end|>\n", got);
    }

    [Fact]
    public void EmptyConversationRendersOnlyTheGenerationPrompt()
    {
        // The default system message is emitted inside the loop, so with no messages there is none.
        Assert.Equal("<|im_start|>assistant\n", ChatMlTemplate.Render([]));
        Assert.Equal("", ChatMlTemplate.Render([], addGenerationPrompt: false));
    }

    [Fact]
    public void ContentAndRolesAreInsertedVerbatim()
    {
        string got = ChatMlTemplate.Render([new ChatMessage("tool", ""), ChatMessage.User("  x <|im_end|> y\n\n")], addGenerationPrompt: false);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>tool\n<|im_end|>\n" +
            "<|im_start|>user\n  x <|im_end|> y\n\n<|im_end|>\n", got);
    }

    [Fact]
    public void RenderTurnIsOneMessage()
    {
        Assert.Equal("<|im_start|>user\nHey<|im_end|>\n", ChatMlTemplate.RenderTurn(ChatMessage.User("Hey")));
        Assert.Equal("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
            ChatMlTemplate.RenderTurn(ChatMessage.System(ChatMlTemplate.DefaultSystemPrompt)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IncrementalTurnsRebuildTheFullRendering(bool replyEndInContext)
    {
        // What an interactive chat keeps in its context: first prompt, reply, (maybe <|im_end|>), follow-ups...
        var conversation = new List<ChatMessage> { ChatMessage.User("Hi") };
        string context = ChatMlTemplate.Render(conversation);
        foreach (var (reply, next) in new[] { ("Hello! How can I help?", "Tell me a joke."), ("Why did the chicken...", "Thanks") })
        {
            context += reply + (replyEndInContext ? ChatMlTemplate.ImEnd : "");
            conversation.Add(ChatMessage.Assistant(reply));
            conversation.Add(ChatMessage.User(next));
            context += ChatMlTemplate.RenderFollowUp([ChatMessage.User(next)], replyEndInContext);
            Assert.Equal(ChatMlTemplate.Render(conversation), context);
        }
    }

    [Fact]
    public void FollowUpWithoutGenerationPromptOnlyClosesTheReply()
    {
        Assert.Equal("<|im_end|>\n", ChatMlTemplate.RenderFollowUp([], addGenerationPrompt: false));
    }
}

using QwenSharp.Generation;

namespace QwenSharp.Chat;

/// <summary>A multi-turn ChatML conversation on one generator. The KV cache keeps every earlier turn: each new
/// turn appends only its own tokens (the previous reply's close, the user message, the assistant opening), so
/// earlier turns are never processed again. With a model template (<see cref="ChatPromptFormatter"/>) the whole
/// conversation is rendered each turn instead (a template may rewrite earlier turns, e.g. drop old reasoning),
/// and the generator's prefix reuse skips the part the cache already holds.</summary>
public sealed class ChatSession
{
    private readonly Generator _generator;
    private readonly List<int> _tokens = [];   // the conversation so far, as the cache holds it
    private readonly List<ChatMessage> _messages = [];
    private readonly string? _systemPrompt;
    private readonly ChatPromptFormatter? _formatter;

    public ChatSession(Generator generator, string? systemPrompt = null, ChatPromptFormatter? formatter = null)
    {
        _generator = generator;
        _systemPrompt = systemPrompt;
        _formatter = formatter;
    }

    public IReadOnlyList<ChatMessage> Messages => _messages;

    /// <summary>Prompt tokens the last turn reused from the cache.</summary>
    public int LastReusedTokens { get; private set; }

    /// <summary>Start over: forget the conversation and its cache.</summary>
    public void Clear()
    {
        _tokens.Clear();
        _messages.Clear();
        _generator.Reset();
    }

    public GenerationResult Send(string userText, GenerationOptions options, Action<string>? onText = null, CancellationToken cancel = default)
    {
        var user = ChatMessage.User(userText);
        var tokenizer = _generator.Model.Tokenizer;
        List<int> prompt;
        if (_formatter is { UsesModelTemplate: true })
        {
            var conversation = new List<ChatMessage>(_messages);
            if (_messages.Count == 0 && _systemPrompt is not null) conversation.Add(ChatMessage.System(_systemPrompt));
            conversation.Add(user);
            prompt = [.. tokenizer.Encode(_formatter.Format(conversation), parseSpecial: true)];
        }
        else
        {
            string text = _messages.Count == 0
                ? ChatMlTemplate.Render(_systemPrompt is null ? [user] : [ChatMessage.System(_systemPrompt), user])
                : ChatMlTemplate.RenderFollowUp([user]);
            prompt = new List<int>(_tokens);
            prompt.AddRange(tokenizer.Encode(text, parseSpecial: true));
        }

        var result = _generator.Generate(prompt, options, onText, cancel);
        LastReusedTokens = result.ReusedPromptTokens;
        if (_messages.Count == 0 && _systemPrompt is not null) _messages.Add(ChatMessage.System(_systemPrompt));
        _messages.Add(user);
        _messages.Add(ChatMessage.Assistant(result.Text));
        _tokens.Clear();
        _tokens.AddRange(_generator.Transcript);
        return result;
    }
}

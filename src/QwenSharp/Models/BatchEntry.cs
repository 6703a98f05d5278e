namespace QwenSharp.Models;

/// <summary>One token of a forward-pass batch: which token, at which position of which sequence, and whether its
/// logits are wanted. A batch may mix sequences (continuous batching) and hold a whole prompt of one sequence.</summary>
public readonly record struct BatchEntry(int Token, int Position, int Sequence, bool WantLogits);

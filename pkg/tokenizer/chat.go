package tokenizer

import "strings"

// DefaultSystemPrompt is the system message of Qwen's chat template and of
// mllm's apply_chat_template.
const DefaultSystemPrompt = "You are a helpful assistant."

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// ChatPrompt wraps one user message in Qwen's ChatML template with the
// default system prompt, exactly as mllm's demo does (mllm v1:
// mllm/tokenizers/Tokenizer.hpp apply_chat_template):
//
//	<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n
//	<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n
//
// Encode the result with allowSpecial=true.
func (t *Tokenizer) ChatPrompt(user string) string {
	return ChatML([]Message{{"system", DefaultSystemPrompt}, {"user", user}}, true)
}

// ChatML renders messages with the ChatML template of Qwen's
// tokenizer_config.json: each message as
// "<|im_start|>{role}\n{content}<|im_end|>\n", followed by
// "<|im_start|>assistant\n" when addGenerationPrompt is set. No system
// message is inserted.
func ChatML(msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteString("\n")
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}

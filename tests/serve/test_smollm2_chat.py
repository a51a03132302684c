"""SmolLM2-135M-Instruct behind kiln serve: a chat answer through the openai
client, equal to what `kiln run` generates from the same ChatML rendering."""
import openai

from common import args, check, kiln_run_greedy

a = args()
client = openai.OpenAI(base_url=a.base + "/v1", api_key=a.api_key, max_retries=0, timeout=120)
model = client.models.list().data[0].id
msgs = [{"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"}]
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=24, temperature=0)
reply = r.choices[0].message.content
check("Paris" in reply, f"reply: {reply!r}")
rendered = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
# kiln run does not stop at <|im_end|> (it prints nothing for it and goes on): compare the start
ran = kiln_run_greedy(a.kiln, a.model, rendered, 24)
check(ran.startswith(reply), f"chat {reply!r} is the start of kiln run's {ran!r}")
print("smollm2 chat: ok:", reply)

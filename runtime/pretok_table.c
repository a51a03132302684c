/* runtime/pretok_table.c — every pre-tokenizer llama.cpp selects by
 * tokenizer.ggml.pre: one table from the name to its split rules and flags.
 *
 * A pre-tokenizer is a list of regexes applied in turn (llama.cpp's
 * llm_tokenizer_bpe regex_exprs): each one splits every piece the previous
 * ones made into its matches and the gaps between them. The patterns are the
 * ones llama.cpp runs (some adapted there from the models' tokenizer.json, e.g.
 * (?i:...) spelled out), in the dialect of pretok_regex.h; which view of the
 * text each sees (collapsed categories or code points) follows from the
 * pattern, as in llama.cpp. Names and rules as of llama.cpp in
 * llama-cpp-python 0.3.36 (src/llama-vocab.cpp). */
#include "runtime/pretok.h"

#include <stddef.h>

/* The three patterns llama.cpp (and kiln, in tokenizer_pretok.c) also runs
 * by hand-written code; kiln recognizes them by these exact texts. */
const char kiln_pretok_rx_gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char kiln_pretok_rx_llama3[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
#define RX_GPT2 kiln_pretok_rx_gpt2
#define RX_LLAMA3 kiln_pretok_rx_llama3
#define RX_QWEN2 \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const rules_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    RX_GPT2,
    "\\p{N}+",
    "[0-9][0-9][0-9]",
    NULL,
};
static const char *const rules_llama3[] = {
    RX_LLAMA3,
    NULL,
};
static const char *const rules_jais2[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    NULL,
};
static const char *const rules_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL,
};
static const char *const rules_deepseek3[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_spark2_5[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
    "\\p{N}",
    NULL,
};
static const char *const rules_youtu[] = {
    "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_deepseek_coder[] = {
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}",
    NULL,
};
static const char *const rules_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+",
    RX_GPT2,
    "[0-9][0-9][0-9]",
    NULL,
};
static const char *const rules_starcoder[] = {
    "\\p{N}",
    RX_GPT2,
    NULL,
};
static const char *const rules_gpt2[] = {
    RX_GPT2,
    NULL,
};
static const char *const rules_qwen2[] = {
    RX_QWEN2,
    NULL,
};
static const char *const rules_qwen35[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_bloom[] = {
    " ?[^(\\s|.,!?…。，、।۔،)]+",
    NULL,
};
static const char *const rules_viking[] = {
    " ?[^(\\s|.,!?…。，、।۔،)]+",
    "\\p{N}",
    NULL,
};
static const char *const rules_tekken[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_chameleon[] = {
    "<sentinel:[0-9]+>",
    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    "([\\t\\n]|    |  )",
    "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]",
    RX_GPT2,
    NULL,
};
static const char *const rules_gpt4o[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_granite_emb_multi[] = {
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
/* Kimi K2: llama.cpp runs it by hand-written code only (its tokenizer.json
 * regex needs class intersection, [\p{L}&&[^\p{Han}]]); the same split here:
 * Han runs, then Llama 3's alternatives with Han taken out of the letters. */
static const char *const rules_kimi_k2[] = {
    "\\p{Han}+|[^\\r\\n\\p{L}\\p{N}]?(?:(?!\\p{Han})\\p{L})+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

static const char *const rules_superbpe[] = {
    "\\p{N}+",
    "(?=(\\d{3})+(?!\\d))",
    NULL,
};
static const char *const rules_bailingmoe[] = {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_seed_coder[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_ufakzeka[] = {
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_laguna[] = {
    "[^\\n]+|[\\n]+",
    RX_QWEN2,
    NULL,
};
static const char *const rules_exaone_moe[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const rules_minicpm5[] = {
    "\\p{N}{1,3}",
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};

#define DEF(id, what) static const kiln_pretok_def def_##id = {#id, what, rules_##id, NULL}
#define UNSUPPORTED(id, why) static const kiln_pretok_def def_##id = {#id, NULL, NULL, why}
DEF(default, "llama.cpp's default, also for a missing tokenizer.ggml.pre");
DEF(llama3, "Llama 3 (also DBRX, Smaug, ChatGLM 4)");
DEF(jais2, "Jais 2: Llama 3 with whitespace runs cut in powers of two");
DEF(deepseek_llm, "DeepSeek LLM");
DEF(deepseek3, "DeepSeek V3 (also Hunyuan dense, JoyAI, HY v4)");
DEF(spark2_5, "Spark 2.5");
DEF(youtu, "Youtu");
DEF(deepseek_coder, "DeepSeek Coder");
DEF(falcon, "Falcon");
DEF(starcoder, "digits alone, then GPT-2 (StarCoder, Refact, Command R, SmolLM, CodeShell, EXAONE, Minerva)");
DEF(gpt2, "GPT-2 (also MPT, OLMo, Jais, Trillion, Granite Docling)");
DEF(qwen2, "Qwen 2 (also StableLM 2, Hunyuan, Solar Open, Grok 2)");
DEF(qwen35, "Qwen 3.5");
DEF(bloom, "BLOOM (also Poro, GPT-3 Finnish)");
DEF(viking, "Viking");
DEF(tekken, "Mistral Tekken");
DEF(chameleon, "Chameleon");
DEF(gpt4o, "GPT-4o (also Llama 4, MiniMax M2)");
DEF(granite_emb_multi, "Granite multilingual embedding 97M");
DEF(kimi_k2, "Kimi K2");
DEF(superbpe, "SuperBPE");
DEF(bailingmoe, "Ling (BailingMoE)");
DEF(seed_coder, "Seed-Coder");
DEF(ufakzeka, "Qwen 2 without English contractions");
DEF(laguna, "Laguna");
DEF(exaone_moe, "EXAONE MoE");
DEF(minicpm5, "MiniCPM 5");
UNSUPPORTED(spm_style_bpe, "a BPE over raw UTF-8 with spaces as U+2581 (no byte-level mapping), which kiln does not implement");
UNSUPPORTED(digit_groups, "digits grouped from the right by llama.cpp's hand-written code, which kiln does not implement");
UNSUPPORTED(with_sep, "a SEP token appended to every text, which kiln's BPE does not do");

#define IM KILN_PRETOK_IGNORE_MERGES
#define BOS KILN_PRETOK_ADD_BOS
#define NOBOS KILN_PRETOK_NO_BOS

/* tokenizer.ggml.pre -> rules, in llama.cpp's order (llama_vocab::impl::load). */
const kiln_pretok_name kiln_pretok_names[] = {
    {"default", &def_default, 0},
    {"minicpm5", &def_minicpm5, IM},
    {"llama3", &def_llama3, IM | BOS},
    {"llama-v3", &def_llama3, IM | BOS},
    {"llama-bpe", &def_llama3, IM | BOS},
    {"falcon3", &def_llama3, IM | BOS},
    {"falcon-h1", &def_llama3, IM | BOS},
    {"pixtral", &def_llama3, IM | BOS},
    {"midm-2.0", &def_llama3, IM | BOS},
    {"lfm2", &def_llama3, IM | BOS},
    {"jina-v5-nano", &def_llama3, IM | BOS},
    {"deepseek-llm", &def_deepseek_llm, 0},
    {"deepseek-coder", &def_deepseek_coder, 0},
    {"deepseek-v3", &def_deepseek3, 0},
    {"spark2_5", &def_spark2_5, 0},
    {"youtu", &def_youtu, IM},
    {"falcon", &def_falcon, 0},
    {"mpt", &def_gpt2, 0},
    {"starcoder", &def_starcoder, 0},
    {"gpt-2", &def_gpt2, 0},
    {"phi-2", &def_gpt2, 0},
    {"jina-es", &def_gpt2, 0},
    {"jina-de", &def_gpt2, 0},
    {"gigachat", &def_gpt2, 0},
    {"jina-v2-es", &def_gpt2, 0},
    {"jina-v2-de", &def_gpt2, 0},
    {"a.x-4.0", &def_gpt2, 0},
    {"mellum", &def_gpt2, 0},
    {"modern-bert", &def_gpt2, 0},
    {"jais-2", &def_jais2, 0},
    {"gemma4", &def_spm_style_bpe, 0},
    {"granite-embed-multi-311m", &def_spm_style_bpe, 0},
    {"sarvam-moe", &def_spm_style_bpe, 0},
    {"jina-v1-en", &def_with_sep, 0},
    {"jina-v2-code", &def_with_sep, 0},
    {"roberta-bpe", &def_with_sep, 0},
    {"whitespace", &def_spm_style_bpe, 0},
    {"refact", &def_starcoder, 0},
    {"command-r", &def_starcoder, 0},
    {"qwen2", &def_qwen2, 0},
    {"deepseek-r1-qwen", &def_qwen2, 0},
    {"kormo", &def_qwen2, 0},
    {"f2llmv2", &def_qwen2, 0},
    {"qwen35", &def_qwen35, 0},
    {"stablelm2", &def_qwen2, 0},
    {"olmo", &def_gpt2, 0},
    {"dbrx", &def_llama3, 0},
    {"smaug-bpe", &def_llama3, 0},
    {"poro-chat", &def_bloom, 0},
    {"chatglm-bpe", &def_llama3, NOBOS},
    {"glm4", &def_llama3, NOBOS | IM},
    {"glm5", &def_llama3, NOBOS | IM},
    {"viking", &def_viking, 0},
    {"jais", &def_gpt2, 0},
    {"tekken", &def_tekken, IM | BOS},
    {"smollm", &def_starcoder, 0},
    {"codeshell", &def_starcoder, 0},
    {"bloom", &def_bloom, 0},
    {"gpt3-finnish", &def_bloom, 0},
    {"exaone", &def_starcoder, 0},
    {"exaone4", &def_gpt2, 0},
    {"exaone-moe", &def_exaone_moe, 0},
    {"chameleon", &def_chameleon, BOS},
    {"minerva-7b", &def_starcoder, 0},
    {"megrez", &def_qwen2, 0},
    {"gpt-4o", &def_gpt4o, 0},
    {"llama4", &def_gpt4o, 0},
    {"kanana2", &def_gpt4o, 0},
    {"talkie", &def_gpt4o, 0},
    {"granite-embed-multi-97m", &def_granite_emb_multi, IM},
    {"tiny_aya", &def_digit_groups, 0},
    {"cohere2moe", &def_digit_groups, 0},
    {"superbpe", &def_superbpe, 0},
    {"trillion", &def_gpt2, 0},
    {"granite-docling", &def_gpt2, 0},
    {"bailingmoe", &def_bailingmoe, 0},
    {"bailingmoe2", &def_bailingmoe, 0},
    {"llada-moe", &def_bailingmoe, 0},
    {"seed-coder", &def_seed_coder, 0},
    {"hunyuan", &def_qwen2, 0},
    {"hunyuan-dense", &def_deepseek3, 0},
    {"hy_v4", &def_deepseek3, 0},
    {"joyai-llm", &def_deepseek3, 0},
    {"kimi-k2", &def_kimi_k2, 0},
    {"ufakzeka", &def_ufakzeka, 0},
    {"grok-2", &def_qwen2, 0},
    {"afmoe", &def_digit_groups, 0},
    {"laguna", &def_laguna, 0},
    {"minimax-m2", &def_gpt4o, 0},
    {"solar-open", &def_qwen2, 0},
    {"mellum2", &def_starcoder, 0},
};
const size_t kiln_pretok_names_count = sizeof kiln_pretok_names / sizeof kiln_pretok_names[0];

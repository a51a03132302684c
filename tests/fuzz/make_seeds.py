#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py KILN_GEN VOCAB_DIR — (re)writes the seed corpora
under tests/fuzz/corpus/: small valid inputs of each reader, so the fuzzer
starts inside the format instead of at its magic number.
  python3 tests/fuzz/make_seeds.py build/bin/kiln-gen ../shared/vocab"""
import json, os, struct, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
kiln_gen, vocab_dir = sys.argv[1], sys.argv[2]


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- GGUF v3: header, key/values, tensor infos, aligned data
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, align=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, typ, payload in kvs:
        out += gstr(key) + struct.pack("<I", typ) + payload
    offset, blobs = 0, []
    for name, dims, ggml_type, data in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ggml_type, offset)
        blobs.append(data)
        offset += (len(data) + align - 1) // align * align
    out += b"\0" * (-len(out) % align)
    for data in blobs:
        out += data + b"\0" * (-len(data) % align)
    return out


U32, F32T, STRING, ARRAY, BOOL = 4, 6, 8, 9, 7
arr_str = lambda xs: struct.pack("<IQ", STRING, len(xs)) + b"".join(gstr(x) for x in xs)
kv_basic = [("general.architecture", STRING, gstr("llama")), ("llama.block_count", U32, struct.pack("<I", 1)),
            ("general.alignment", U32, struct.pack("<I", 32)), ("x.flag", BOOL, b"\1"),
            ("x.scale", F32T, struct.pack("<f", 0.5)),
            ("tokenizer.ggml.tokens", ARRAY, arr_str(["<unk>", "<s>", "</s>", "a", "b"])),
            ("x.ints", ARRAY, struct.pack("<IQ", U32, 3) + struct.pack("<3I", 1, 2, 3))]
put("fuzz_gguf", "kv_only.gguf", gguf(kv_basic, []))
put("fuzz_gguf", "f32_tensor.gguf", gguf(kv_basic[:3], [("w", [4, 2], 0, struct.pack("<8f", *range(8)))]))
q4_0 = struct.pack("<e", 0.25) + bytes(range(16))  # one block of 32
put("fuzz_gguf", "q4_0_tensor.gguf", gguf(kv_basic[:1], [("w", [32, 1], 2, q4_0), ("b", [2], 0, struct.pack("<2f", 1, 2))]))

# ---- llama2.c: header of 7 int32, then f32 weights
def llama2c(dim, hidden, layers, heads, kv_heads, vocab, seq):
    kv_dim = dim * kv_heads // heads
    n = abs(vocab) * dim + layers * (dim + 2 * dim * dim + 2 * kv_dim * dim + dim + 3 * hidden * dim) + dim
    n += seq * (dim // heads) + (abs(vocab) * dim if vocab < 0 else 0)
    return struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq) + struct.pack("<%df" % n, *[0.01 * (i % 7) for i in range(n)])

put("fuzz_llama2c", "shared.bin", llama2c(8, 16, 1, 2, 2, 4, 4))
put("fuzz_llama2c", "separate_classifier_gqa.bin", llama2c(8, 12, 2, 4, 2, -5, 3))
put("fuzz_llama2c", "header_only.bin", struct.pack("<7i", 8, 16, 1, 2, 2, 4, 4))

# ---- tokenizer: byte 0 = vocabulary (bit 0: gpt-2) | add_bos (bit 1) | parse_special (bit 2)
texts = [b"Hello world", b" Hello  World!\n\ttabs", "Äpfel ½ 🦙 日本語".encode(), b"\xff\xfe\xc3(\xe2\x28\xa1 bad utf-8 \xf0\x90\x28",
         b"<s> spelled </s> <unk>", b"<|endoftext|>x<|endoftext|>", b"   ", b"1234567890 3.14 ' 's 've"]
for name in ("ggml-vocab-llama-spm.gguf.inp", "ggml-vocab-gpt-2.gguf.inp"):
    with open(os.path.join(vocab_dir, name), "rb") as f:
        texts += [t.strip(b"\n") for t in f.read().split(b"__ggml_vocab_test__")[:12] if t.strip(b"\n")]
for i, t in enumerate(texts):
    put("fuzz_tokenizer", "text%02d" % i, bytes([(i % 2) | ((i // 2 % 2) << 1) | 4]) + t)

# ---- spec texts: a few of the manifest (canonical) and some hand-written ones
listing = subprocess.run([kiln_gen, "--list"], capture_output=True, text=True, check=True).stdout.splitlines()
specs = [l.split("  #")[0] for l in listing if l.strip()][::24]
specs += ["matmul backend=cuda fmt=q4_0 act=f32", "flash_attn backend=vulkan fmt=f16 hd=128",
          "rope backend=cuda fmt=q8_0 epi=kv threads=128", "norm backend=cpu-avx2 epi=residual"]
for i, s in enumerate(specs):
    put("fuzz_spec", "spec%02d" % i, s)

# ---- tuning cache for the device key the target expects ("cpu-fuzz")
entry = lambda cls, spec: {"class": cls, "shape": "m=256 k=512 n=4", "default_spec": spec, "tuned_spec": spec,
                           "default_us": 2.5, "tuned_us": 1.25, "tried": 4, "rejected": 0}
mm = "matmul backend=cpu-avx2 fmt=q4_0 epi=bias+residual+swiglu"
doc = {"kiln_tune_version": 1, "kiln_version": "0.1.0", "device_key": "cpu-fuzz",
       "entries": [entry(mm + " | n=2-8", mm + " tm=4 tn=64 tk=256 stages=1 vec=32 split=1"),
                   entry("norm backend=cpu-avx2 epi=residual | dim<=1024", "norm backend=cpu-avx2 epi=residual")]}
put("fuzz_tune_cache", "two_entries.json", json.dumps(doc, indent=2))
doc["entries"] = []
put("fuzz_tune_cache", "empty.json", json.dumps(doc))
put("fuzz_tune_cache", "escapes.json", '{"kiln_tune_version": 1, "device_key": "cpu\\u002dfuzz", "entries": [{"class": "a\\"b | n=1", "tuned_spec": "x"}]}')

#!/usr/bin/env python3
"""Trains the tests/fixtures/qwen3-trained fixture: a byte-level BPE tokenizer and a small Qwen3ForCausalLM on an
English corpus (tools/gen/make_corpus.sh), saved in bfloat16 as Hugging Face writes it, then the float32 reference
outputs of held-out text computed from the stored bf16 weights on the CPU, in the format of
tests/fixtures/qwen3-small (reference.json, reference.safetensors). Finally it emulates qwglm's Q8 and Q4 weight
formats (src/ops/quant.c) in PyTorch and prints the mean KL(ref || quantized) per token that
tests/golden/test_quant.c will measure.

The emulation reproduces src/ops/quant.c bit for bit (float32 arithmetic in the same order), so its figures are
what the C test measures, up to its 16-bit activations and f16 KV cache.

Needs torch, transformers (5.x) and tokenizers; trains on a GPU when there is one.
Usage: make_corpus.sh corpus.txt && gzip corpus.txt
       train_qwen3_fixture.py --corpus corpus.txt.gz --out DIR --tokenizer-chars 12000000 --max-epochs 10
       train_qwen3_fixture.py --corpus corpus.txt.gz --out DIR --reference-only     (reuses DIR's model)
       train_qwen3_fixture.py ... --max-docs 80 --vocab 512 --train-seconds 5       (a trial of every step)
"""
import argparse
import copy
import gzip
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

# Qwen3's pre-tokenizer: the Split pattern of its tokenizer.json, then ByteLevel without GPT-2's regex.
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
              r"|\s+(?!\S)|\s+")
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
EOS = "<|endoftext|>"


def log(*a):
    print(*a, flush=True)


# ---- corpus and tokenizer ----

def read_docs(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    return [d for d in text.split("\n\f\n") if d.strip()]


def split_docs(docs, seed, eval_frac):
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_eval = max(8, int(len(docs) * eval_frac))
    held = sorted(order[:n_eval])
    return [docs[i] for i in order[n_eval:]], [docs[i] for i in held]


def train_tokenizer(docs, vocab):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    # the same pre-tokenizer, post-processor and decoder records as Qwen3's tokenizer.json
    j = json.loads(tok.to_str())
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_SPLIT}, "behavior": "Isolated", "invert": False}, BYTE_LEVEL]}
    j["post_processor"] = dict(BYTE_LEVEL)
    j["decoder"] = dict(BYTE_LEVEL)
    return Tokenizer.from_str(json.dumps(j))


def encode_docs(tok, docs, eos_id):
    ids = []
    for enc in tok.encode_batch(docs, add_special_tokens=False):
        ids.append(eos_id)
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.int32)


# ---- model and training ----

def make_config(args, vocab, eos_id):
    from transformers import Qwen3Config
    return Qwen3Config(vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                       num_hidden_layers=args.layers, num_attention_heads=args.heads,
                       num_key_value_heads=args.kv_heads,
                       head_dim=args.head_dim, rms_norm_eps=1e-6, tie_word_embeddings=False,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                       bos_token_id=None, eos_token_id=eos_id, pad_token_id=None)


def batch(data, bs, seq, gen, device):
    starts = torch.randint(0, len(data) - seq - 1, (bs,), generator=gen)
    idx = starts[:, None] + torch.arange(seq + 1)[None, :]
    x = data[idx].long().to(device, non_blocking=True)
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def eval_loss(model, data, seq, device, max_windows=256, bs=32):
    model.eval()
    n = min(max_windows, (len(data) - 1) // seq)
    tot, cnt = 0.0, 0
    for s in range(0, n, bs):
        rows = [data[(s + i) * seq:(s + i) * seq + seq + 1].long() for i in range(min(bs, n - s))]
        x = torch.stack(rows).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=x[:, :-1]).logits
        tot += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                               reduction="sum").item()
        cnt += x[:, 1:].numel()
    model.train()
    return tot / cnt if cnt else float("nan")


def train(args, model, train_ids, eval_ids, device):
    """AdamW with a linear warm-up and a cosine decay to a tenth, for max_epochs or train_seconds."""
    n_params = sum(p.numel() for p in model.parameters())
    n_outer = model.lm_head.weight.numel() + model.model.embed_tokens.weight.numel()
    log("model: %.2f M parameters (%.2f M without embedding and LM head)" %
        (n_params / 1e6, (n_params - n_outer) / 1e6))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95),
                            **({"fused": True} if device.type == "cuda" else {}))
    tokens_per_step = args.batch * args.seq
    max_steps = int(args.max_epochs * len(train_ids) / tokens_per_step)
    gen = torch.Generator().manual_seed(args.seed)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.time()
    total = max_steps
    step = 0
    while step < total:
        if step in (10, 40):  # fix the schedule's length from the measured speed
            sync()
            if step == 10:
                t10 = time.time()
            else:
                per_step = (time.time() - t10) / 30
                total = max(60, min(max_steps, 40 + int((args.train_seconds - (time.time() - t0)) / per_step)))
                log("%.1f ms/step, %d tokens/step: %d steps (%.2f epochs of %d tokens)" %
                    (per_step * 1e3, tokens_per_step, total, total * tokens_per_step / len(train_ids),
                     len(train_ids)))
        warm = min(args.warmup, max(1, total // 10))
        lr = args.lr * (step + 1) / warm if step < warm else \
            args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(train_ids, args.batch, args.seq, gen, device)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0 or step == total:
            log("step %5d  lr %.2e  train loss %.4f  (%.0f s)" % (step, lr, loss.item(), time.time() - t0))
        if step % args.eval_every == 0 or step == total:
            log("step %5d  eval loss %.4f  emulated q4 KL on held-out text %s" %
                (step, eval_loss(model, eval_ids, args.seq, device), q4_kl_probe(model, eval_ids, args.seq)))
    log("trained %d steps, %d tokens, in %.0f s" % (step, step * tokens_per_step, time.time() - t0))
    return model


@torch.no_grad()
def q4_kl_probe(model, data, seq, windows=8):
    """Mean KL(float32 || q4) per token over a few held-out windows (float32 math), as training goes."""
    try:
        x = torch.stack([data[i * seq:(i + 1) * seq].long() for i in range(windows)]).to(model.device)
        model.eval()
        ref = model(input_ids=x).logits.float()
        q = quantized_copy(model, q4, q8)
        kl = kl_rows(ref.reshape(-1, ref.shape[-1]), q(input_ids=x).logits.float().reshape(-1, ref.shape[-1]))
        model.train()
        return "%.3e" % kl.mean().item()
    except Exception as ex:  # informational only
        model.train()
        return "(failed: %r)" % ex


# ---- reference ----

def prose_paragraphs(held, seed):
    """Paragraphs of held-out documents, whitespace collapsed, in a seeded random order, those that read as prose
    last (the end of the list is used first)."""
    prose, other = [], []
    for d in held:
        for p in d.split("\n\n"):
            t = " ".join(p.split())
            if len(t) < 400 or len(t) > 4000:
                continue
            letters = sum(c.isalpha() or c == " " for c in t) / len(t)
            ok = len(t) >= 700 and letters > 0.93 and t.count(". ") >= 3 and t[0].isupper()
            (prose if ok else other).append(t)
    log("%d prose paragraphs in the held-out documents (%d others)" % (len(prose), len(other)))
    random.Random(seed + 1).shuffle(prose)
    random.Random(seed + 2).shuffle(other)
    return other + prose


@torch.no_grad()
def reference_case(model, ids, steps):
    """Prefill logits and hidden states of a prompt, then greedy decoding with the KV cache."""
    o = model(input_ids=torch.tensor([ids]), use_cache=True, output_hidden_states=True)
    prefill = o.logits[0].float().clone()
    hidden = [h[0].float().clone() for h in o.hidden_states]
    past, last = o.past_key_values, o.logits[0, -1].float()
    greedy, margins, dec = [], [], []
    for s in range(steps):
        top = torch.topk(last, 2)
        t = int(top.indices[0])
        greedy.append(t)
        margins.append(float(top.values[0] - top.values[1]))
        dec.append(last.clone())
        if s + 1 < steps:
            o = model(input_ids=torch.tensor([[t]]), past_key_values=past, use_cache=True)
            past, last = o.past_key_values, o.logits[0, -1].float()
    return {"input_ids": ids, "greedy": greedy, "top2_margins": margins, "prefill": prefill,
            "decode": torch.stack(dec), "hidden": hidden}


def reference(model, tok, paras, lengths, steps, min_margin):
    """One case per wanted prompt length: a paragraph cut at a word end near that many tokens, skipping those
    whose greedy continuation has a step with a top-1/top-2 margin below min_margin (float32 rounding could flip
    it)."""
    refs = []
    for want in lengths:
        while True:
            if not paras:
                raise RuntimeError("no held-out paragraph left for a %d-token case" % want)
            t = paras.pop()
            enc = tok.encode(t, add_special_tokens=False)
            if len(enc.ids) < want + 8:
                continue
            text = t[:t.rfind(" ", 0, enc.offsets[want][1])]
            ids = tok.encode(text, add_special_tokens=False).ids
            if not 32 <= len(ids) <= 96:
                continue
            r = reference_case(model, ids, steps)
            if min(r["top2_margins"]) >= min_margin:
                r["text"] = text
                refs.append(r)
                break
            log("skipped a %d-token prompt: smallest greedy margin %.4f" % (len(ids), min(r["top2_margins"])))
    return refs


def write_reference(outdir, cfg, refs, info):
    from safetensors.torch import save_file
    tensors = {}
    for i, r in enumerate(refs):
        tensors["case%d.prefill_logits" % i] = r["prefill"].contiguous()
        tensors["case%d.decode_logits" % i] = r["decode"].contiguous()
        for l, h in enumerate(r["hidden"]):
            tensors["case%d.hidden.%d" % (i, l)] = h.contiguous()
    save_file(tensors, os.path.join(outdir, "reference.safetensors"), metadata={"format": "pt"})
    doc = {"model": "qwen3-trained",
           "config": {k: getattr(cfg, k) for k in ("vocab_size", "hidden_size", "intermediate_size",
                                                   "num_hidden_layers", "num_attention_heads",
                                                   "num_key_value_heads", "head_dim", "rms_norm_eps",
                                                   "tie_word_embeddings", "max_position_embeddings")},
           "training": info,
           "cases": [{k: r[k] for k in ("text", "input_ids", "greedy", "top2_margins")} for r in refs]}
    doc["config"]["rope_theta"] = 1000000.0
    with open(os.path.join(outdir, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


# ---- qwglm's weight formats, emulated (src/ops/quant.c) ----

def quantize_blocks(w, l0, step, lo, hi, search=10):
    """Rows of w cut into blocks of 32: each block's scale searched among 21 inverse scales (l0 + step c) / max
    (max: the value of largest magnitude, signed), scored by the squared error after a least-squares refit,
    stored as f16; values rounded against it. Returns the dequantized weights (float32)."""
    rows, k = w.shape
    v = w.float().reshape(rows, k // 32, 32)
    idx = v.abs().argmax(dim=-1, keepdim=True)
    mx = torch.gather(v, -1, idx)
    best = torch.full_like(mx, -1.0)
    best_d = torch.where(mx != 0, mx / l0, torch.zeros_like(mx))
    safe = torch.where(mx != 0, mx, torch.ones_like(mx))
    for c in range(-search, search + 1):  # float32 arithmetic in C's order (a scalar / tensor would multiply)
        level = torch.tensor(l0, dtype=torch.float32) + torch.tensor(step, dtype=torch.float32) * c
        q = torch.clamp(torch.round(v * (torch.full_like(safe, level.item()) / safe)), lo, hi)
        sxq, sqq = torch.zeros_like(mx), torch.zeros_like(mx)
        for i in range(32):
            sxq = sxq + v[..., i:i + 1] * q[..., i:i + 1]
            sqq = sqq + q[..., i:i + 1] * q[..., i:i + 1]
        better = (sqq > 0) & (sxq * sxq > best * sqq) & (mx != 0)
        ok = torch.where(sqq > 0, sqq, torch.ones_like(sqq))
        best = torch.where(better, sxq * sxq / ok, best)
        best_d = torch.where(better, sxq / ok, best_d)
    d = torch.clamp(best_d, -65504.0, 65504.0).to(torch.float16).float()
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    q = torch.clamp(torch.round(v * inv), lo, hi)
    return (d * q).reshape(rows, k)


def q8(w):
    return quantize_blocks(w, 127.0, 0.5, -127, 127)


def q4(w):
    return quantize_blocks(w, -8.0, 0.1, -8, 7)


LAYER_MATS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def quantized_copy(model, layer_fn, outer_fn):
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() != 2:
                continue
            if name.split(".")[-2] in LAYER_MATS:
                fn = layer_fn
            else:  # model.embed_tokens.weight, lm_head.weight
                fn = outer_fn
            if fn is not None:
                p.copy_(fn(p.data))
    return m


def kl_rows(ref, ours):
    lr, lo = F.log_softmax(ref.double(), -1), F.log_softmax(ours.double(), -1)
    return (lr.exp() * (lr - lo)).sum(-1)


@torch.no_grad()
def measure(model, refs, min_margin=0.1):
    """Mean KL per token on the rows test_quant.c uses (prompt rows but the last, then each greedy step,
    teacher-forced), and top-1 agreement at the greedy steps whose reference margin is at least min_margin."""
    kls, steps, agree = [], 0, 0
    for r in refs:
        n = len(r["input_ids"])
        seq = r["input_ids"] + r["greedy"][:-1]
        logits = model(input_ids=torch.tensor([seq])).logits[0].float()
        kls.append(kl_rows(r["prefill"][:n - 1], logits[:n - 1]))
        kls.append(kl_rows(r["decode"], logits[n - 1:]))
        for s, (t, mg) in enumerate(zip(r["greedy"], r["top2_margins"])):
            if mg >= min_margin:
                steps += 1
                agree += int(logits[n - 1 + s].argmax()) == t
    k = torch.cat(kls)
    return k.mean().item(), k.max().item(), agree, steps


def emulate(model, refs):
    variants = [("bf16 weights as stored (f32 math)", None, None),
                ("q8: layers Q8, embedding/head as stored", q8, None),
                ("q4: layers Q4, embedding/head Q8", q4, q8),
                ("q4 layers only, embedding/head as stored", q4, None),
                ("q4 everything (embedding/head Q4 too)", q4, q4)]
    res = {}
    for name, lf, of in variants:
        m = quantized_copy(model, lf, of) if (lf or of) else model
        kl, kmax, agree, steps = measure(m, refs)
        log("emulated %-42s mean KL %.3e (max row %.3e), top-1 %d/%d" % (name, kl, kmax, agree, steps))
        res[name.split(":")[0]] = kl
    return res


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference-only", action="store_true", help="reuse the model and tokenizer in --out")
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=768)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--train-seconds", type=float, default=300)
    ap.add_argument("--max-epochs", type=float, default=8)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-frac", type=float, default=0.03)
    ap.add_argument("--steps", type=int, default=16, help="greedy steps of the reference")
    ap.add_argument("--min-margin", type=float, default=0.01, help="smallest greedy margin of a reference case")
    ap.add_argument("--lengths", default="40,60,80,96", help="prompt lengths of the reference cases")
    ap.add_argument("--tokenizer-chars", type=int, default=0, help="train the tokenizer on about this much text")
    ap.add_argument("--max-docs", type=int, default=0, help="use only this many documents (a trial run)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    import tokenizers
    import transformers
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM
    log("torch %s, transformers %s, tokenizers %s" % (torch.__version__, transformers.__version__,
                                                       tokenizers.__version__))
    os.makedirs(args.out, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.time()
    docs = read_docs(args.corpus)
    if args.max_docs and len(docs) > args.max_docs:  # a quick trial run
        docs = docs[::len(docs) // args.max_docs][:args.max_docs]
    train_docs, held = split_docs(docs, args.seed, args.eval_frac)
    log("corpus: %d documents, %.1f M characters; %d held out (%.1f M characters)" %
        (len(docs), sum(map(len, docs)) / 1e6, len(held), sum(map(len, held)) / 1e6))
    info = {"script": "tools/gen/train_qwen3_fixture.py", "corpus_documents": len(docs),
            "corpus_characters": sum(map(len, docs))}

    if not args.reference_only:
        tok_docs, n = [], 0
        for d in train_docs:  # the tokenizer learns from a seeded sample of the training documents
            if args.tokenizer_chars and n >= args.tokenizer_chars:
                break
            tok_docs.append(d)
            n += len(d)
        tok = train_tokenizer(tok_docs, args.vocab)
        eos_id = tok.token_to_id(EOS)
        log("tokenizer: %d tokens, eos %d (%.0f s)" % (tok.get_vocab_size(), eos_id, time.time() - t0))
        train_ids, eval_ids = encode_docs(tok, train_docs, eos_id), encode_docs(tok, held, eos_id)
        log("tokens: train %d, eval %d (%.2f characters per token; %.0f s)" %
            (len(train_ids), len(eval_ids), sum(map(len, train_docs)) / len(train_ids), time.time() - t0))
        cfg = make_config(args, tok.get_vocab_size(), eos_id)
        torch.manual_seed(args.seed)
        model = Qwen3ForCausalLM(cfg).to(device)
        model.config.use_cache = False
        model = train(args, model, train_ids, eval_ids, device)
        model.config.use_cache = True
        model = model.to(torch.bfloat16)
        ev = eval_loss(model, eval_ids, args.seq, device)
        log("eval loss of the bf16 weights: %.4f nats/token" % ev)
        info.update(eval_loss=round(ev, 4), train_tokens=int(len(train_ids)))
        model.save_pretrained(args.out)
        tok.save(os.path.join(args.out, "tokenizer.json"))
        try:
            fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)
            fast.save_pretrained(args.out)
        except Exception as ex:
            log("PreTrainedTokenizerFast.save_pretrained failed (%r): writing tokenizer_config.json by hand" % ex)
            with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
                json.dump({"add_prefix_space": False, "bos_token": None, "eos_token": EOS, "pad_token": EOS,
                           "unk_token": None, "clean_up_tokenization_spaces": False, "errors": "replace",
                           "model_max_length": 40960, "tokenizer_class": "PreTrainedTokenizerFast",
                           "added_tokens_decoder": {str(eos_id): {
                               "content": EOS, "lstrip": False, "normalized": False, "rstrip": False,
                               "single_word": False, "special": True}}}, f, indent=2)
        keep = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json"}
        for extra in os.listdir(args.out):
            if extra not in keep:
                os.remove(os.path.join(args.out, extra))
        log("saved: %s" % ", ".join("%s %d" % (f, os.path.getsize(os.path.join(args.out, f)))
                                    for f in sorted(os.listdir(args.out))))
        del model
    tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))

    # the reference: the stored bf16 weights upcast to float32, on the CPU
    torch.set_num_threads(min(16, os.cpu_count() or 1))
    ref_model = Qwen3ForCausalLM.from_pretrained(args.out, dtype=torch.float32, attn_implementation="eager").eval()
    assert ref_model.model.embed_tokens.weight.dtype == torch.float32
    lengths = [int(x) for x in args.lengths.split(",")]
    refs = reference(ref_model, tok, prose_paragraphs(held, args.seed), lengths, args.steps, args.min_margin)
    for i, r in enumerate(refs):
        log("case %d: %d prompt tokens: %r\n  greedy: %r\n  margins: %s" %
            (i, len(r["input_ids"]), r["text"][-120:], tok.decode(r["greedy"]),
             " ".join("%.2f" % m for m in r["top2_margins"])))
    try:
        from transformers import AutoTokenizer
        at = AutoTokenizer.from_pretrained(args.out)
        same = all(at(r["text"], add_special_tokens=False)["input_ids"] == r["input_ids"] for r in refs)
        log("AutoTokenizer encodes the case texts to the same ids: %s" % same)
    except Exception as ex:  # informational only
        log("AutoTokenizer check failed: %r" % ex)
    info["emulated_mean_kl"] = {k: float("%.3g" % v) for k, v in emulate(ref_model, refs).items()}
    write_reference(args.out, ref_model.config, refs, info)
    log("done in %.0f s: %s" % (time.time() - t0, json.dumps(info)))


if __name__ == "__main__":
    main()

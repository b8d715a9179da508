#!/usr/bin/env python3
"""The peer side of `rslora bench --device cuda`: transformers + PEFT on the same random models
(the config values of Qwen2.5-0.5B, Qwen2.5-1.5B and Llama-3.1-8B, no weights), bf16, SDPA
attention, LoRA r16 on all seven projections with fp32 adapter weights (PEFT's default), AdamW on
the adapters, the same batch and sequence, optionally gradient checkpointing and an NF4 base
(bitsandbytes). One case per process, so the CUDA peaks are the case's own.

    python3 bench/gpu/peft_step.py --shape qwen2.5-0.5b --batch 8 --seq 1024 [--checkpointing] [--nf4] --out r.json

Prints and writes tokens/s, step seconds, peak allocated/reserved MiB and MFU, with the FLOPs
counted as engine/EngineBench.cpp counts them: 6·N_adapter + 4·N_frozen + 12·L·H·D·T per token,
against the measured bf16 matmul rate of the GPU (8192³).
"""
import argparse
import json
import sys
import time

SHAPES = {
    "qwen2.5-0.5b": dict(arch="qwen2", vocab=151936, hidden=896, inter=4864, layers=24, heads=14, kv=2, tied=True, theta=1e6, eps=1e-6),
    "qwen2.5-1.5b": dict(arch="qwen2", vocab=151936, hidden=1536, inter=8960, layers=28, heads=12, kv=2, tied=True, theta=1e6, eps=1e-6),
    "llama-3.1-8b": dict(arch="llama", vocab=128256, hidden=4096, inter=14336, layers=32, heads=32, kv=8, tied=False, theta=5e5, eps=1e-5),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def matmul_gflops(torch):
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    torch.mm(a, b)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        torch.mm(a, b)
    torch.cuda.synchronize()
    return 2 * 8192 ** 3 * reps / (time.perf_counter() - t0) / 1e9


def build(args, torch):
    import transformers
    s = SHAPES[args.shape]
    common = dict(vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["inter"], num_hidden_layers=s["layers"],
                  num_attention_heads=s["heads"], num_key_value_heads=s["kv"], tie_word_embeddings=s["tied"],
                  rope_theta=s["theta"], rms_norm_eps=s["eps"], max_position_embeddings=max(4096, args.seq))
    if s["arch"] == "qwen2":
        cfg = transformers.Qwen2Config(**common)
    else:
        cfg = transformers.LlamaConfig(**common)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(1)
    with torch.device("cuda"):
        try:  # transformers ≥ 4.56 names it dtype; older versions torch_dtype
            model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
        except TypeError:
            model = transformers.AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model.to(torch.bfloat16)
    if args.nf4:
        import bitsandbytes as bnb  # noqa: F401  (absent: the case is reported as not run)
        replace_with_nf4(model, torch)
    return model


def replace_with_nf4(model, torch):
    """Every linear of the decoder layers becomes a bitsandbytes NF4 layer with double quantization,
    as `BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
    bnb_4bit_compute_dtype=torch.bfloat16)` loads them (embeddings and lm_head stay bf16)."""
    import bitsandbytes as bnb
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear):
                    q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=child.bias is not None,
                                          compute_dtype=torch.bfloat16, compress_statistics=True, quant_type="nf4")
                    q.weight = bnb.nn.Params4bit(child.weight.data.cpu(), requires_grad=False, compress_statistics=True,
                                                 quant_type="nf4")
                    if child.bias is not None:
                        q.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
                    q = q.cuda()
                    setattr(parent, name, q)
                    del child
    torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", required=True, choices=sorted(SHAPES))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--checkpointing", action="store_true")
    p.add_argument("--nf4", action="store_true")
    p.add_argument("--out")
    args = p.parse_args()

    import torch
    import peft

    gflops = matmul_gflops(torch)
    torch.cuda.reset_peak_memory_stats()
    model = build(args, torch)
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lcfg = peft.LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                           task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lcfg)
    trainable = [q for q in model.parameters() if q.requires_grad]
    n_adapter = sum(q.numel() for q in trainable)
    n_total = sum(q.numel() * (2 if q.dtype == torch.uint8 else 1) for q in model.parameters())
    n_frozen = n_total - n_adapter
    # The engine's defaults: lr 2e-4, betas (0.9, 0.999), eps 1e-8, no weight decay.
    opt = torch.optim.AdamW(trainable, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    model.train()
    g = torch.Generator(device="cuda").manual_seed(5)
    vocab = SHAPES[args.shape]["vocab"]

    def step():
        ids = torch.randint(0, vocab, (args.batch, args.seq), device="cuda", generator=g)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss

    for _ in range(args.warmup):
        step().item()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / args.steps
    s = SHAPES[args.shape]
    head_dim = s["hidden"] // s["heads"]
    flops_per_token = 6 * n_adapter + 4 * n_frozen + 12 * s["layers"] * s["heads"] * head_dim * args.seq
    tok_s = args.batch * args.seq / seconds
    result = {
        "shape": args.shape, "batch": args.batch, "seq": args.seq, "rank": args.rank,
        "checkpointing": args.checkpointing, "nf4": args.nf4,
        "step_seconds": seconds, "tokens_per_second": tok_s,
        "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2 ** 20,
        "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2 ** 20,
        "adapter_params": n_adapter, "frozen_params": n_frozen,
        "matmul_gflops": gflops, "mfu": flops_per_token * tok_s / 1e9 / gflops,
        "torch": torch.__version__, "transformers": __import__("transformers").__version__, "peft": peft.__version__,
        "gpu": torch.cuda.get_device_name(0),
    }
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())

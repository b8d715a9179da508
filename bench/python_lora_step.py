#!/usr/bin/python3
"""The comparison side of `rslora bench`: the same LoRA training step written plainly in Python
with Debian's python3-torch (Llama-shaped random model, LoRA r16 on all seven projections, batch 8,
sequence 256, fp32 CPU, AdamW on the adapter), timed the same way.

Usage (one shape per process, so peak RSS is per shape):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/python_lora_step.py --shape 5m --threads 2 --out py-5m.json
    /usr/bin/python3 bench/python_lora_step.py --merge py-*.json --out python.json
    rslora bench --python python.json
or, trying every thread setting (1 or 2 threads, OpenBLAS's default spin or
OPENBLAS_THREAD_TIMEOUT=18, always OMP_WAIT_POLICY=PASSIVE) in a fresh process each and keeping
the fastest per shape:
    /usr/bin/python3 bench/python_lora_step.py --best --shapes 5m 30m 135m --out python.json

The shapes match engine/EngineBench.cpp.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

SHAPES = {
    "5m": dict(vocab=4096, hidden=256, inter=688, layers=4, heads=4, kv=4, tied=False),
    "30m": dict(vocab=8192, hidden=512, inter=1376, layers=6, heads=8, kv=8, tied=False),
    "135m": dict(vocab=49152, hidden=576, inter=1536, layers=30, heads=9, kv=3, tied=True),
}


def build(torch, s, rank):
    nn = torch.nn
    F = torch.nn.functional

    class LoRALinear(nn.Module):
        def __init__(self, fin, fout):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(fout, fin) * 0.02, requires_grad=False)
            self.lora_A = nn.Parameter(torch.empty(rank, fin).uniform_(-1 / math.sqrt(fin), 1 / math.sqrt(fin)))
            self.lora_B = nn.Parameter(torch.zeros(fout, rank))
            self.scaling = 2.0

        def forward(self, x):
            return F.linear(x, self.weight) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling

    class RMSNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d), requires_grad=False)

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

    H, nh, nkv = s["hidden"], s["heads"], s["kv"]
    hd = H // nh

    def rope(x, cos, sin):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat((-x2, x1), -1) * sin

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj = LoRALinear(H, nh * hd), LoRALinear(H, nkv * hd)
            self.v_proj, self.o_proj = LoRALinear(H, nkv * hd), LoRALinear(nh * hd, H)
            self.gate_proj, self.up_proj = LoRALinear(H, s["inter"]), LoRALinear(H, s["inter"])
            self.down_proj = LoRALinear(s["inter"], H)
            self.n1, self.n2 = RMSNorm(H), RMSNorm(H)

        def forward(self, x, cos, sin, mask):
            B, T, _ = x.shape
            h = self.n1(x)
            q = self.q_proj(h).view(B, T, nh, hd).transpose(1, 2)
            k = self.k_proj(h).view(B, T, nkv, hd).transpose(1, 2)
            v = self.v_proj(h).view(B, T, nkv, hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k = k.repeat_interleave(nh // nkv, 1)
            v = v.repeat_interleave(nh // nkv, 1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
            x = x + self.o_proj(o)
            h = self.n2(x)
            return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Parameter(torch.randn(s["vocab"], H) * 0.02, requires_grad=False)
            self.layers = nn.ModuleList(Layer() for _ in range(s["layers"]))
            self.norm = RMSNorm(H)
            self.lm_head = self.embed if s["tied"] else nn.Parameter(torch.randn(s["vocab"], H) * 0.02, requires_grad=False)

        def forward(self, ids):
            B, T = ids.shape
            inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
            f = torch.outer(torch.arange(T).float(), inv)
            emb = torch.cat((f, f), -1)
            cos, sin = emb.cos(), emb.sin()
            mask = torch.full((T, T), float("-inf")).triu(1)
            x = F.embedding(ids, self.embed)
            for layer in self.layers:
                x = layer(x, cos, sin, mask)
            return F.linear(self.norm(x), self.lm_head)

    return Model()


def run_shape(name, args):
    import torch
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    s = SHAPES[name]
    model = build(torch, s, args.rank)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, s["vocab"], (args.batch, args.seq))
    stamps = []
    for _ in range(args.warmup + args.steps):
        logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, s["vocab"]), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        stamps.append(time.perf_counter())
    step = (stamps[-1] - stamps[args.warmup - 1]) / args.steps
    return {
        "step_seconds": step,
        "tokens_per_second": args.batch * args.seq / step,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def best(args):
    """Each shape under each thread setting in a fresh process; the fastest kept, with its setting."""
    out = {}
    for shape in args.shapes:
        runs = []
        for threads in (1, 2):
            for timeout in (None, "18"):
                env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
                env.pop("OPENBLAS_THREAD_TIMEOUT", None)
                if timeout:
                    env["OPENBLAS_THREAD_TIMEOUT"] = timeout
                with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                    subprocess.run([sys.executable, __file__, "--shape", shape, "--threads", str(threads), "--steps", str(args.steps),
                                    "--warmup", str(args.warmup), "--batch", str(args.batch), "--seq", str(args.seq),
                                    "--rank", str(args.rank), "--out", tmp.name], env=env, check=True, stdout=subprocess.DEVNULL)
                    with open(tmp.name) as fh:
                        r = json.load(fh)[shape]
                r["openblas_thread_timeout"] = timeout or "default"
                print(f"{shape}: {threads} thread(s), OPENBLAS_THREAD_TIMEOUT {r['openblas_thread_timeout']}: "
                      f"{r['step_seconds']:.3f} s/step, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
                runs.append(r)
        out[shape] = min(runs, key=lambda r: r["step_seconds"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--merge", nargs="*", help="combine per-shape JSON files")
    ap.add_argument("--best", action="store_true", help="try every thread setting per shape, keep the fastest")
    ap.add_argument("--shapes", nargs="*", default=["5m", "30m", "135m"], help="shapes for --best")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.best:
        out = best(args)
    elif args.merge:
        out = {}
        for f in args.merge:
            with open(f) as fh:
                out.update(json.load(fh))
    else:
        if not args.shape:
            ap.error("--shape or --merge is required")
        out = {args.shape: run_shape(args.shape, args)}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

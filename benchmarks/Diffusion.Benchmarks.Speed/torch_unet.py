"""The SDK's UNet (src/Diffusion.Models) written once more in PyTorch, for the side-by-side speed benchmark only.

The SDK never runs Python. This script is started by Diffusion.Benchmarks.Speed with Debian's python3-torch:
  python3 torch_unet.py check DIR          load DIR/options.json + DIR/weights/*.bin, run DIR/x.bin, compare DIR/y.bin
  python3 torch_unet.py train OPTIONS.json BATCH STEPS WARMUP PRECISION
  python3 torch_unet.py sample OPTIONS.json COUNT STEPS GUIDANCE BATCH PRECISION
  python3 torch_unet.py matmul N
Each mode prints one JSON line on stdout. PRECISION is fp32 or autocast (torch.autocast("cpu", torch.bfloat16)).
"""
import json, math, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1)))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(e))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


class Attention(nn.Module):
    def __init__(self, c, head_dim, groups, dropout):
        super().__init__()
        self.heads = c // head_dim
        self.group_norm = nn.GroupNorm(groups, c)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(dropout)])

    def forward(self, x):
        b, c, hh, ww = x.shape
        n, d = hh * ww, c // self.heads
        t = self.group_norm(x).reshape(b, c, n).transpose(1, 2)
        q, k, v = (p(t).view(b, n, self.heads, d).transpose(1, 2) for p in (self.to_q, self.to_k, self.to_v))
        a = F.scaled_dot_product_attention(q, k, v) if hasattr(F, "scaled_dot_product_attention") else \
            torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), -1) @ v
        a = a.transpose(1, 2).reshape(b, n, c)
        for layer in self.to_out:
            a = layer(a)
        return x + a.transpose(1, 2).reshape(b, c, hh, ww)


class Down(nn.Module):
    def __init__(self, cin, cout, o, attention, downsample):
        super().__init__()
        emb = o["emb"]
        self.resnets = nn.ModuleList([ResBlock(cin if j == 0 else cout, cout, emb, o["GroupNormGroups"], o["Dropout"]) for j in range(o["LayersPerBlock"])])
        self.attentions = nn.ModuleList([Attention(cout, o["AttentionHeadDim"], o["GroupNormGroups"], o["Dropout"]) for _ in range(o["LayersPerBlock"])] if attention else [])
        self.downsamplers = nn.ModuleList([DownConv(cout)] if downsample else [])

    def forward(self, h, e, skips):
        for j, r in enumerate(self.resnets):
            h = r(h, e)
            if len(self.attentions):
                h = self.attentions[j](h)
            skips.append(h)
        for d in self.downsamplers:
            h = d(h)
            skips.append(h)
        return h


class DownConv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class UpConv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Up(nn.Module):
    def __init__(self, cin, cout, skip_channels, o, attention, upsample):
        super().__init__()
        emb = o["emb"]
        self.resnets = nn.ModuleList([ResBlock((cin if j == 0 else cout) + s, cout, emb, o["GroupNormGroups"], o["Dropout"]) for j, s in enumerate(skip_channels)])
        self.attentions = nn.ModuleList([Attention(cout, o["AttentionHeadDim"], o["GroupNormGroups"], o["Dropout"]) for _ in skip_channels] if attention else [])
        self.upsamplers = nn.ModuleList([UpConv(cout)] if upsample else [])

    def forward(self, h, e, skips):
        for j, r in enumerate(self.resnets):
            h = r(torch.cat([h, skips.pop()], 1), e)
            if len(self.attentions):
                h = self.attentions[j](h)
        for u in self.upsamplers:
            h = u(h)
        return h


class Mid(nn.Module):
    def __init__(self, c, o):
        super().__init__()
        emb = o["emb"]
        self.resnets = nn.ModuleList([ResBlock(c, c, emb, o["GroupNormGroups"], o["Dropout"]) for _ in range(2)])
        self.attentions = nn.ModuleList([Attention(c, o["AttentionHeadDim"], o["GroupNormGroups"], o["Dropout"])] if o["MidAttention"] else [])

    def forward(self, h, e):
        h = self.resnets[0](h, e)
        for a in self.attentions:
            h = a(h)
        return self.resnets[1](h, e)


class TimeEmbedding(nn.Module):
    def __init__(self, cin, emb):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, emb), nn.Linear(emb, emb)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class UNet(nn.Module):
    def __init__(self, o):
        super().__init__()
        o = {k[0].upper() + k[1:]: v for k, v in o.items()}  # the SDK's options JSON is camelCase
        o.setdefault("Dropout", 0.0)
        o["emb"] = o.get("TimeEmbeddingDim") or 4 * o["BaseChannels"]
        self.o = o
        ch = [o["BaseChannels"] * m for m in o["ChannelMultipliers"]]
        levels, base = len(ch), o["BaseChannels"]
        self.conv_in = nn.Conv2d(o["InChannels"], base, 3, padding=1)
        self.time_embedding = TimeEmbedding(base, o["emb"])
        self.class_embedding = nn.Embedding(o["NumClasses"] + 1, o["emb"]) if o.get("NumClasses") else None
        skip = [base]
        self.down_blocks = nn.ModuleList()
        for level in range(levels):
            cin = base if level == 0 else ch[level - 1]
            down = level < levels - 1
            self.down_blocks.append(Down(cin, ch[level], o, level in o["AttentionLevels"], down))
            skip += [ch[level]] * (o["LayersPerBlock"] + (1 if down else 0))
        self.mid_block = Mid(ch[-1], o)
        self.up_blocks = nn.ModuleList()
        for level in reversed(range(levels)):
            cin = ch[-1] if level == levels - 1 else ch[level + 1]
            skips = [skip.pop() for _ in range(o["LayersPerBlock"] + 1)]
            self.up_blocks.append(Up(cin, ch[level], skips, o, level in o["AttentionLevels"], level > 0))
        self.conv_norm_out = nn.GroupNorm(o["GroupNormGroups"], base)
        self.conv_out = nn.Conv2d(base, o["OutChannels"], 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.GroupNorm):
                nn.init.ones_(m.weight), nn.init.zeros_(m.bias)

    def forward(self, x, t, labels=None):
        half = self.o["BaseChannels"] // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / half))
        ang = t.float()[:, None] * freqs[None]
        enc = torch.cat([ang.cos(), ang.sin()], 1)
        if self.o["BaseChannels"] % 2:
            enc = F.pad(enc, (0, 1))
        e = self.time_embedding(enc)
        if self.class_embedding is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.o["NumClasses"], dtype=torch.long)
            e = e + self.class_embedding(labels)
        h = self.conv_in(x)
        skips = [h]
        for d in self.down_blocks:
            h = d(h, e, skips)
        h = self.mid_block(h, e)
        for u in self.up_blocks:
            h = u(h, e, skips)
        return self.conv_out(F.silu(self.conv_norm_out(h))).float()


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def amp(precision):
    if precision == "autocast":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def linear_alphas_cumprod(T=1000):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


def train(options, batch, steps, warmup, precision):
    torch.manual_seed(0)
    net = UNet(options)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    ema = [p.detach().clone() for p in net.parameters()]
    ac = linear_alphas_cumprod()
    size, cin, k = options["SampleSize"], options["InChannels"], options.get("NumClasses") or 0
    data = torch.rand(1024, cin, size, size) * 2 - 1
    labels = torch.randint(0, max(k, 1), (1024,))
    t0 = None
    for step in range(warmup + steps):
        if step == warmup:
            t0 = time.perf_counter()
        idx = torch.randint(0, 1024, (batch,))
        x0, y = data[idx], labels[idx]
        if k:
            y = torch.where(torch.rand(batch) < 0.1, torch.full_like(y, k), y)
        t = torch.randint(0, 1000, (batch,))
        eps = torch.randn_like(x0)
        a = ac[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        with amp(precision):
            pred = net(xt, t.float(), y if k else None)
            loss = F.mse_loss(pred.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p.detach(), alpha=0.001)
    elapsed = time.perf_counter() - t0
    return {"imagesPerSecond": batch * steps / elapsed, "secondsPerStep": elapsed / steps, "loss": float(loss), "peakMB": peak_mb(),
            "parameters": sum(p.numel() for p in net.parameters())}


@torch.no_grad()
def sample(options, count, steps, guidance, batch, precision):
    torch.manual_seed(0)
    net = UNet(options).eval()
    ac = linear_alphas_cumprod()
    size, cin, k = options["SampleSize"], options["InChannels"], options.get("NumClasses") or 0
    ts = [int(round(999 - i * 1000 / steps)) for i in range(steps)]

    def run(n, timesteps=ts):
        x = torch.randn(n, cin, size, size)
        y = torch.arange(n) % max(k, 1)
        for i, t in enumerate(timesteps):
            tt = torch.full((n,), float(t))
            with amp(precision):
                if guidance != 1 and k:
                    both = net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, torch.full_like(y, k)]))
                    c, u = both.float().chunk(2)
                    eps = u + guidance * (c - u)
                else:
                    eps = net(x, tt, y if k else None).float()
            a = ac[t]
            a_prev = ac[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.tensor(1.0)
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        return x

    run(min(batch, count), ts[:1])  # warm-up at the measured shapes (one step): oneDNN builds its kernels per shape
    t0 = time.perf_counter()
    done = 0
    while done < count:
        n = min(batch, count - done)
        run(n)
        done += n
    elapsed = time.perf_counter() - t0
    return {"imagesPerSecond": count / elapsed, "seconds": elapsed, "peakMB": peak_mb()}


def matmul(n):
    out = {}
    for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n).to(dt), torch.randn(n, n).to(dt)
        a @ b
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        out[name + "GFlops"] = 2 * n ** 3 / best / 1e9
    return out


def check(folder):
    o = json.load(open(os.path.join(folder, "options.json")))
    net = UNet(o).eval()
    index = json.load(open(os.path.join(folder, "weights.json")))
    sd = net.state_dict()
    missing = sorted(set(sd) - set(index))
    extra = sorted(set(index) - set(sd))
    if missing or extra:
        return {"ok": False, "missing": missing, "unexpected": extra}
    for name, shape in index.items():
        w = torch.from_file(os.path.join(folder, "weights", name + ".bin"), size=math.prod(shape), dtype=torch.float32).reshape(shape)
        if tuple(sd[name].shape) != tuple(shape):
            return {"ok": False, "shapeMismatch": name, "python": list(sd[name].shape), "dotnet": shape}
        sd[name].copy_(w)
    meta = json.load(open(os.path.join(folder, "input.json")))
    x = torch.from_file(os.path.join(folder, "x.bin"), size=math.prod(meta["x"]), dtype=torch.float32).reshape(meta["x"])
    y_ref = torch.from_file(os.path.join(folder, "y.bin"), size=math.prod(meta["x"]), dtype=torch.float32).reshape(meta["x"])
    t = torch.tensor(meta["t"], dtype=torch.float32)
    labels = torch.tensor(meta["labels"], dtype=torch.long) if meta.get("labels") is not None else None
    with torch.no_grad():
        y = net(x, t, labels)
    return {"ok": True, "maxAbsDiff": float((y - y_ref).abs().max()), "outputScale": float(y_ref.abs().max()),
            "parameters": sum(p.numel() for p in net.parameters())}


def options(path):
    return {k[0].upper() + k[1:]: v for k, v in json.load(open(path)).items()}  # the SDK's options JSON is camelCase


def main(argv):
    mode = argv[1]
    try:
        if mode == "check":
            r = check(argv[2])
        elif mode == "train":
            r = train(options(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]), argv[6])
        elif mode == "sample":
            r = sample(options(argv[2]), int(argv[3]), int(argv[4]), float(argv[5]), int(argv[6]), argv[7])
        elif mode == "matmul":
            r = matmul(int(argv[2]))
        else:
            raise SystemExit(f"unknown mode {mode}")
    except RuntimeError as e:  # e.g. an op without a bf16 CPU kernel under autocast in PyTorch 1.13
        r = {"error": str(e).splitlines()[0][:300]}
    r["torch"] = torch.__version__
    r["threads"] = torch.get_num_threads()
    print(json.dumps(r))


if __name__ == "__main__":
    main(sys.argv)

"""PyTorch on the same workloads as the Kiln bench, for the GPU check kit (main.ts runs it).

    python3 torch_peer.py PLAN.json OUT.json

PLAN.json: {"workloads": [{"bench", "params"}...], "reps", "warmup", "maxCaseMs", "device"}.
OUT.json: {"available": true | reason, "info": {...}, "records": [...], "skipped": [...]}, the
records in the bench harness's BenchRecord format (engine "torch"); main.ts adds GFLOP/s and
GB/s from the Kiln record of the same workload, so no FLOP formula is written twice.

Same rules as the harness (bench/README.md): inputs built before timing, warm-up untimed, each
timed iteration ends with a one-element read-back (`.item()`), which waits for the device.
Strict FP32: TF32 is off for matmul and cuDNN (Kiln computes in f32). Eager mode, no
torch.compile: the peer is PyTorch as most people run it. Models follow MLP_SPEC / CNN_SPEC
and ADAM in bench/engines/types.ts.
"""
import json
import sys
import time


def quantile(sorted_xs, q):
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def measure(run, warmup, reps, max_ms):
    """Mirrors bench/timing.ts: warm-up and timed runs each stop at max_ms; one timed run always."""
    start = time.perf_counter()
    for _ in range(warmup):
        run()
        if (time.perf_counter() - start) * 1e3 >= max_ms:
            break
    samples = []
    start = time.perf_counter()
    while len(samples) < reps:
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1e3)
        if (time.perf_counter() - start) * 1e3 >= max_ms:
            break
    s = sorted(samples)
    med = quantile(s, 0.5)
    return {
        "medianMs": med, "minMs": s[0], "maxMs": s[-1], "meanMs": sum(s) / len(s),
        "spread": (quantile(s, 0.75) - quantile(s, 0.25)) / med if med > 0 and len(s) > 1 else 0.0,
        "reps": len(s), "samplesMs": samples,
    }


def build_cases(torch, device):
    nn = torch.nn
    F = torch.nn.functional
    gen = torch.Generator(device="cpu").manual_seed(1)

    def rand(*shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1).to(device)

    def labels(batch, classes):
        return torch.randint(0, classes, (batch,), generator=gen).to(device)

    def probe(t):
        return lambda: t().reshape(-1)[0].item()

    def mlp():
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)

    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
        ).to(device)

    def train_step(model, x, y):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

        def run():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
        return run

    def inference(model, x):
        model.eval()

        def run():
            with torch.no_grad():
                return model(x).reshape(-1)[0].item()
        return run

    def matmul(p):
        a, b = rand(p["m"], p["k"]), rand(p["k"], p["n"])
        return probe(lambda: a @ b)

    def elementwise_chain(p):
        x = rand(p["n"])
        return probe(lambda: torch.exp(torch.relu(x * 2 + 1) * -0.5))

    def reduce_sum(p):
        x = rand(p["rows"], p["cols"])
        return probe(lambda: x.sum(1))

    def softmax(p):
        x = rand(p["rows"], p["cols"])
        return probe(lambda: torch.softmax(x, 1))

    def conv2d(p):
        x = rand(p["batch"], p["inChannels"], p["height"], p["width"])
        w = rand(p["outChannels"], p["inChannels"], p["kernel"], p["kernel"])
        return probe(lambda: F.conv2d(x, w, stride=p["stride"], padding=p["padding"]))

    return {
        "matmul": matmul,
        "elementwiseChain": elementwise_chain,
        "reduceSum": reduce_sum,
        "softmax": softmax,
        "conv2d": conv2d,
        "mlpTrainStep": lambda p: train_step(mlp(), rand(p["batch"], 784), labels(p["batch"], 10)),
        "cnnTrainStep": lambda p: train_step(cnn(), rand(p["batch"], 1, 28, 28), labels(p["batch"], 10)),
        "mlpInference": lambda p: inference(mlp(), rand(p["batch"], 784)),
        "cnnInference": lambda p: inference(cnn(), rand(p["batch"], 1, 28, 28)),
    }


def main():
    plan_path, out_path = sys.argv[1], sys.argv[2]
    with open(plan_path) as f:
        plan = json.load(f)
    out = {"available": True, "info": {}, "records": [], "skipped": []}
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        out["available"] = f"python3 cannot import torch: {e}"
        return write(out_path, out)
    device = plan.get("device", "cuda")
    if device == "cuda" and not torch.cuda.is_available():
        out["available"] = f"torch {torch.__version__} sees no CUDA device"
        return write(out_path, out)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(1)
    out["info"] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "cuda": torch.version.cuda,
        "tf32": False,
        "mode": "eager",
    }
    cases = build_cases(torch, device)
    for w in plan["workloads"]:
        base = {"engine": "torch", "backend": device, "bench": w["bench"], "params": w["params"]}
        make = cases.get(w["bench"])
        if make is None:
            out["skipped"].append({**base, "reason": f"no torch peer for {w['bench']}"})
            continue
        try:
            run = make(w["params"])
            stats = measure(run, plan["warmup"], plan["reps"], plan["maxCaseMs"])
        except Exception as e:  # noqa: BLE001 - one failed case is a row, not the end of the run
            out["skipped"].append({**base, "reason": f"failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"})
            continue
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
        out["records"].append({**base, **stats, "warmup": plan["warmup"]})
        print(f"torch-{device} {w['bench']} {json.dumps(w['params'])}: {stats['medianMs']:.3f} ms median of {stats['reps']}", file=sys.stderr)
    write(out_path, out)


def write(path, out):
    with open(path, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()

"""Training images/s: our engine vs the study's loop, same model and data, measured in one run.

Study-faithful loop: JPEG files on disk, PIL open + ToTensor + Resize + Normalize per sample,
DataLoader(batch 128, shuffle, 2 workers), fp32 Adam. Ours: the engine's own epoch step
(engine.setup + engine.train_one_epoch, exactly what training runs: uint8 tensors in memory, batches
by index, images normalized once on the device, channels_last), in fp32 and bf16 autocast; and what
`precision: auto` picks on this CPU, and why.

    python bench/train_throughput.py [--depth 16] [--batches 6]
    python bench/train_throughput.py --overhead [--batches 4]   # the improved recipe's step, before/after item 4
    python bench/train_throughput.py --compile [--batches 6]    # eager vs torch.compile (inductor), side by side
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python bench/train_throughput.py   # a CPU without bf16
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as tv
import yaml
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from _images import CLASSES, coco_sized_jpegs
from skipnet.analysis import study
from skipnet.data.prepare import pack, save_split
from skipnet.training import batches, engine, precision
from skipnet.training.history import TrainLog
from skipnet.training.models import MyNet

REPO = Path(__file__).resolve().parents[1]


class StudyDataset(Dataset):
    def __init__(self, paths, labels, size):
        self.paths, self.labels = paths, labels
        self.transform = tv.Compose([tv.ToTensor(), tv.Resize((size, size)), tv.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.transform(Image.open(self.paths[i]).convert("RGB")), self.labels[i]


def time_study_loop(paths, labels, depth, batches, size):
    torch.manual_seed(0)
    net = MyNet(depth=depth, num_classes=len(CLASSES), image_size=size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    loader = DataLoader(StudyDataset(paths, labels, size), batch_size=128, shuffle=True, num_workers=2)
    seen, t0 = 0, None
    for i, (x, y) in enumerate(loader):
        if i == 1:  # the first batch includes worker start-up: excluded
            t0, seen = time.perf_counter(), 0
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        seen += len(y)
        if i == batches:
            break
    return seen / (time.perf_counter() - t0)


def time_engine(tmp, images, labels, depth, size, arithmetic):
    """images/s of the engine's own epoch step (engine.train_one_epoch, as engine.train runs it), in its
    second epoch: the first includes one-time costs."""
    save_split(Path(tmp) / "train.npz", images, np.asarray(labels), CLASSES)
    save_split(Path(tmp) / "val.npz", images[:128], np.asarray(labels[:128]), CLASSES)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(dataset="sample", depth=depth, image_size=size, precision=arithmetic, epochs=2)
    trainer = engine.setup(params, Path(tmp) / "train.npz", Path(tmp) / "val.npz", log=lambda *a: None)
    net = engine.wrap(trainer, params)
    history = TrainLog()
    _, step = engine.train_one_epoch(trainer, net, params, 0, 0, history)
    timed, _ = engine.train_one_epoch(trainer, net, params, 1, step, history)
    return timed["images_per_s"], trainer.optimizer.defaults


def time_compiled(tmp, images, labels, depth, size):
    """Eager against `compile: true` (engine.wrap: inductor, one graph per batch shape) on the engine's own epoch,
    precision auto, side by side: (eager img/s, compiled img/s, cold compile s, warm compile s). Compile seconds are
    a compiled first epoch less an epoch at the compiled speed: cold with an empty inductor cache (a machine's first
    run), warm with the cache the cold one filled (every later run of the same shapes: seeds, resumes)."""
    save_split(Path(tmp) / "train.npz", images, np.asarray(labels), CLASSES)
    save_split(Path(tmp) / "val.npz", images[:128], np.asarray(labels[:128]), CLASSES)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(dataset="sample", depth=depth, image_size=size, epochs=3)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "inductor")  # cold: nothing compiled before
    firsts, speeds = [], []
    for compiled in (False, True, True):
        torch._dynamo.reset()  # the second compiled run starts from the on-disk cache alone
        trainer = engine.setup(params, Path(tmp) / "train.npz", Path(tmp) / "val.npz", log=lambda *a: None)
        net = engine.wrap(trainer, {**params, "compile": compiled})
        t0 = time.perf_counter()
        _, step = engine.train_one_epoch(trainer, net, params, 0, 0, TrainLog())
        firsts.append(time.perf_counter() - t0)
        timed, _ = engine.train_one_epoch(trainer, net, params, 1, step, TrainLog())
        speeds.append(timed["images_per_s"])
    eager, compiled = speeds[0], max(speeds[1:])
    return eager, compiled, *(first - len(labels) / compiled for first in firsts[1:])


def augment_per_step(x, padding, flip, generator):
    """batches.augment before issue 23 item 4 (the reference): draws on the host every step, copied to the device,
    and the result left in the default layout, which the model's first conv converts back."""
    n, _, h, w = x.shape
    x = F.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu").to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device="cpu").to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(n, x.shape[1], h, w + 2 * padding)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(n, x.shape[1], h, w)
    x = x.gather(2, rows).gather(3, cols)
    flipped = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    return torch.where(flipped[:, None, None, None], x.flip(3), x)


def grad_norms_per_tensor(groups):
    """engine.grad_norms before issue 23 item 4: one norm kernel per tensor and one host sync per group."""
    out = {}
    for name, modules in groups.items():
        grads = [p.grad.detach().float().norm() for m in modules for p in m.parameters() if p.grad is not None]
        out[name] = torch.stack(grads).norm().item() if grads else 0.0
    return out


def time_overhead(images, depth, steps, size):
    """The improved recipe's training step (crop with padding 2, flip, gradient norms every step, the worst case of
    display_interval), before and after issue 23 item 4, alternating so both see the same machine: seconds per step
    of the whole step, and of the augmentation and norm calls alone."""
    torch.manual_seed(0)
    net = MyNet(depth=depth, num_classes=len(CLASSES), image_size=size).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    groups, pad = net.stage_groups(), study.IMPROVED["crop_padding"]
    x_all, _ = engine.to_device_tensors(images, np.zeros(len(images)), torch.device("cpu"), torch.float32)
    y_all = torch.randint(0, len(CLASSES), (len(x_all),))
    draws = batches.augment_draws(len(x_all), pad, torch.Generator().manual_seed(1), torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    ways = {
        "before": lambda x, i: (augment_per_step(x, pad, True, gen), grad_norms_per_tensor),
        "after": lambda x, i: (batches.augment(x, pad, True, draws[:, i : i + 128]), engine.grad_norms),
    }
    totals = {w: [0.0, 0.0] for w in ways}
    for b in range(steps + 1):
        for way, prepare in ways.items():
            i = (b * 128) % (len(x_all) - 127)
            t0 = time.perf_counter()
            x, norms = prepare(x_all[i : i + 128], i)
            t1 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(x), y_all[i : i + 128])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = time.perf_counter()
            norms(groups)
            t3 = time.perf_counter()
            opt.step()
            t4 = time.perf_counter()
            if b:  # the first round warms up
                totals[way][0] += t4 - t0
                totals[way][1] += (t1 - t0) + (t3 - t2)
    return {w: (step / steps, calls / steps) for w, (step, calls) in totals.items()}


def time_compute_ceiling(depth, batches, size):
    """Upper bound for any loop on this machine: one fixed batch, the whole model in bf16, SGD."""
    torch.manual_seed(0)
    net = MyNet(depth=depth, num_classes=len(CLASSES), image_size=size).to(torch.bfloat16)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    x, y = torch.randn(128, 3, size, size, dtype=torch.bfloat16), torch.randint(0, len(CLASSES), (128,))
    for i in range(batches + 1):
        if i == 1:
            t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batches * 128 / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--batches", type=int, default=6, help="timed batches per loop (after one warm-up batch)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument(
        "--slow-batches",
        type=int,
        default=1,
        help="timed batches for bf16 where this CPU only emulates it (about 15x slower)",
    )
    ap.add_argument(
        "--overhead",
        action="store_true",
        help="only the improved recipe's step, before and after "
        "issue 23 item 4 (augmentation draws once an epoch, channels_last kept, foreach norms)",
    )
    ap.add_argument("--compile", action="store_true", help="only eager vs torch.compile of the engine's epoch")
    args = ap.parse_args()
    if args.compile:
        with tempfile.TemporaryDirectory() as tmp:
            paths, labels = coco_sized_jpegs(tmp, per_class=args.batches * 128 // len(CLASSES) + 1)
            n = args.batches * 128 + 37  # a partial last batch: the second shape a real epoch has
            eager, compiled, cold, warm = time_compiled(
                tmp, pack(paths, args.size)[:n], labels[:n], args.depth, args.size
            )
        auto, reason, _ = precision.decide("auto", "cpu", cpu=precision.cpu_facts())
        print(
            f"MyNet-{args.depth}, {args.size}x{args.size}, batch 128, precision auto -> {auto} ({reason}), "
            f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{n} images an epoch"
        )
        print(f"eager    {eager:7.1f} img/s")
        print(
            f"compiled {compiled:7.1f} img/s  ({compiled / eager:.2f}x), compile {cold:.0f} s cold, {warm:.0f} s warm"
        )
        for images in (7781 * 20, 1200 * 4):  # the study's 20 epochs; the quick start's count (1,200 images, 4 epochs)
            saved = images * (1 / eager - 1 / compiled)
            print(
                f"{images:,} images trained: {saved:.0f} s saved by the faster step, "
                f"{saved - cold:.0f} s net cold, {saved - warm:.0f} s net warm"
            )
        return
    if args.overhead:
        with tempfile.TemporaryDirectory() as tmp:
            paths, _ = coco_sized_jpegs(tmp, per_class=(args.batches + 2) * 128 // len(CLASSES) + 1)
            got = time_overhead(pack(paths, args.size), args.depth, args.batches, args.size)
        print(
            f"MyNet-{args.depth}, {args.size}x{args.size}, batch 128, fp32, {torch.get_num_threads()} threads, CPU "
            f"capability {torch.backends.cpu.get_cpu_capability()}, {args.batches} timed steps each, alternating"
        )
        for way, (step, calls) in got.items():
            print(f"{way:7s} step {step:7.3f} s   augmentation + gradient norms {1000 * calls:7.1f} ms")
        print(
            f"after / before: step {got['after'][0] / got['before'][0]:.3f}x, "
            f"augmentation + norms {got['after'][1] / got['before'][1]:.3f}x"
        )
        return
    auto, reason, _ = precision.decide("auto", "cpu", cpu=precision.cpu_facts())
    bf16_batches = args.batches if auto == "bf16" else args.slow_batches
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = coco_sized_jpegs(tmp, per_class=(args.batches + 2) * 128 // len(CLASSES) + 1)
        images = pack(paths, args.size)
        study = time_study_loop(paths, labels, args.depth, args.batches, args.size)
        rows = []
        for arithmetic in ("fp32", "bf16"):
            n = args.batches if arithmetic == "fp32" else bf16_batches
            subset = slice(0, n * 128)
            speed, opt = time_engine(tmp, images[subset], labels[subset], args.depth, args.size, arithmetic)
            adam = "fused" if opt.get("fused") else "foreach"
            rows.append((f"engine epoch, {arithmetic}, channels_last, {adam} Adam ({n} batches)", speed))
        ceiling = time_compute_ceiling(args.depth, bf16_batches, args.size)
    print(
        f"MyNet-{args.depth}, {args.size}x{args.size}, batch 128, {torch.get_num_threads()} threads, "
        f"{args.batches} timed batches each unless noted, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print(f"precision: auto -> {auto} ({reason})")
    print(f"{'study loop (JPEG decode per sample, 2 workers, fp32)':60s} {study:7.1f} img/s")
    for name, speed in rows:
        print(f"{name:60s} {speed:7.1f} img/s  ({speed / study:.2f}x)")
    print(f"{'ceiling: fixed batch, all-bf16 model, SGD, no data':60s} {ceiling:7.1f} img/s  ({ceiling / study:.2f}x)")


if __name__ == "__main__":
    main()

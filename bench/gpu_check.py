"""The GPU job: one bounded run that measures MyNet-16's training step and writes JSON as it goes.

For a session lent a GPU machine (torch there may differ from the lock; no dvc or network needed; pycocotools can
travel as a wheel, docs/grids.md "Without DVC"). The data go through the pipeline's own data stages (the generated
sample, 32x32), then, each written to --json as soon as it is measured, so a timeout still leaves numbers:

- ms per step and images/s of one epoch through the engine's own `train_one_epoch`, eager with deterministic
  algorithms on and off, the whole step captured as CUDA graphs (a candidate: CapturedSteps), compiled
  (`compile: true`, CUDA graphs) with its compile seconds, and with the optimizer step compiled too (a candidate:
  foreach Adam, capturable); a candidate's error is recorded in its place;
- how far each one's weights after one epoch from the seed's init are from deterministic eager's (relative norm;
  eager without deterministic algorithms gives the floor that cuDNN's own choices make);
- kernels per step and the GPU's busy fraction (torch.profiler), host syncs per step (CUDA's sync debug mode);
- the seconds of one evaluation over val and of one resume checkpoint (and of its snapshot, which training waits for);
- MFU against the device's own dense bf16 (or fp16) peak, where its name is known;
- last, the whole pipeline (data stages, 20 epochs, evaluate) as a grid run would do it, timed.

    python bench/gpu_check.py --json gpu_check.json                 # the GPU job, under 5 minutes on an H100
    python bench/gpu_check.py --json /tmp/x.json --train 160 --val 40 --depth 1 --size 8 --no-full   # a CPU smoke
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tools"))

import torch  # noqa: E402
import yaml  # noqa: E402
from run_grid import run_stages  # noqa: E402

from skipnet.training import batches, checkpoints, engine  # noqa: E402
from skipnet.training.history import TrainLog  # noqa: E402
from skipnet.training.models import MyNet, model_summary  # noqa: E402

CLASSES = ["boat", "cake", "couch", "dog", "motorcycle"]
# Dense (no sparsity) tensor-core peaks from NVIDIA's datasheets, FLOP/s, in the precision `auto` picks there:
# bf16 from compute capability 8.0, fp16 on 7.x. Matched against torch.cuda.get_device_name.
PEAKS = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 80GB HBM3": 989e12,
    "H100 PCIe": 756e12,
    "A100": 312e12,
    "L4": 121e12,
    "T4": 65e12,
    "V100": 125e12,
}


def peak(device):
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    return next((flops for key, flops in PEAKS.items() if key in name), None)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Results:
    """The job's numbers, rewritten to `path` whole (atomically) after each one."""

    def __init__(self, path):
        self.path, self.data = Path(path), {}

    def add(self, **numbers):
        self.data.update(numbers)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        tmp.replace(self.path)
        print(json.dumps(numbers), flush=True)


def epoch(params, work):
    """(trainer, net, the engine's own record of one epoch) for these params on the prepared data."""
    trainer = engine.setup(params, work / "data/prepared/train.npz", work / "data/prepared/val.npz", log=print)
    net = engine.wrap(trainer, params)
    record, _ = engine.train_one_epoch(trainer, net, params, 0, 0, TrainLog())
    return trainer, net, record


def per_step(record, trainer):
    steps = trainer.steps_per_epoch
    return {"ms_per_step": 1000 * record["seconds"] / steps, "images_per_s": record["images_per_s"], "steps": steps}


def profile_steps(trainer, net, params, device):
    """Kernels per step and the GPU's busy fraction over one epoch, from torch.profiler (None on a CPU)."""
    if device.type != "cuda":
        return {"kernels_per_step": None, "gpu_busy_fraction": None}
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=activities) as prof:
        engine.train_one_epoch(trainer, net, params, 1, 0, TrainLog())
        sync(device)
    wall = time.perf_counter() - t0
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.device_time for e in kernels) / 1e6  # microseconds
    return {"kernels_per_step": len(kernels) / trainer.steps_per_epoch, "gpu_busy_fraction": busy / wall}


def syncs_per_step(trainer, net, params, device, display_interval):
    """Host syncs per step, as CUDA's sync debug mode warns of them (None on a CPU)."""
    if device.type != "cuda":
        return None
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine.train_one_epoch(trainer, net, {**params, "display_interval": display_interval}, 2, 0, TrainLog())
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(w.message) for w in caught) / trainer.steps_per_epoch


def compile_optimizer_too(trainer, params):
    """The optimizer step compiled as well (PyTorch's compiled-optimizer recipe): foreach Adam, capturable, its lr a
    tensor that the schedule writes in place (engine.set_lr), so that a step of Python over 514 tensors becomes a few
    fused kernels. The candidate beside the engine's fused Adam, which torch.compile does not trace."""
    lr = torch.tensor(params["lr"], dtype=torch.float32, device=trainer.device)
    optimizer = torch.optim.Adam(
        trainer.model.parameters(), lr=lr, weight_decay=params["weight_decay"], foreach=True, capturable=True
    )
    eager_step = optimizer.step
    optimizer.step = torch.compile(lambda *args, **kwargs: eager_step(*args, **kwargs))  # what scaler.step calls
    trainer.optimizer = optimizer


def weights(model):
    """Every parameter and BatchNorm buffer of a model, as one float64 vector on the host."""
    return torch.cat(
        [v.detach().double().flatten().cpu() for v in model.state_dict().values() if v.is_floating_point()]
    )


def off_by(a, b):
    """How far weights a are from weights b, relative to b's norm."""
    return float((a - b).norm() / b.norm())


class CapturedSteps:
    """The other candidate for issue 37 item 1: the whole step (forward, loss, backward, the engine's fused Adam,
    capturable, its lr a tensor) captured with torch.cuda.graph, one graph per batch shape, each batch copied into
    the graph's static input and the graph replayed. A capture's warm-up steps are undone: the weights, BatchNorm
    buffers and Adam's state are put back in place (the graph holds their addresses). The recipe without
    augmentation and without a gradient scaler (bf16 or fp32) only; gradient norms are not logged."""

    def __init__(self, trainer, params):
        assert trainer.device.type == "cuda" and not trainer.scaler.is_enabled()
        assert not (params["crop_padding"] or params["flip"])
        self.trainer, self.params, self.graphs = trainer, params, {}
        dtype = trainer.autocast.fast_dtype
        enabled = trainer.precision in ("bf16", "fp16")
        self.autocast = lambda: torch.autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=False)

    def step(self, x, y):
        trainer = self.trainer
        with self.autocast():
            logits = trainer.model(x)
            loss = trainer.criterion(logits.float(), y)
        loss.backward()
        trainer.optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).sum()

    def capture(self, n):
        trainer = self.trainer
        x_all, y_all = trainer.train
        x, y = x_all[:n].clone(), y_all[:n].clone()  # static inputs: real images, so the warm-up stays finite
        model_state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        optimizer_state = {p: {k: v.clone() for k, v in s.items()} for p, s in trainer.optimizer.state.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # cuDNN's autotuning and Adam's state, before the capture
                trainer.optimizer.zero_grad(set_to_none=True)
                self.step(x, y)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        trainer.optimizer.zero_grad(set_to_none=True)  # the graph's backward writes, not adds, its gradients
        with torch.cuda.graph(graph):
            outputs = self.step(x, y)
        with torch.no_grad():  # undo the warm-up and the capture, in place
            for k, v in trainer.model.state_dict().items():
                v.copy_(model_state[k])
            for p, state in trainer.optimizer.state.items():  # a fresh Adam's state is zeros
                for k, v in state.items():
                    if p in optimizer_state:
                        v.copy_(optimizer_state[p][k])
                    else:
                        v.zero_()
        self.graphs[n] = graph, x, y, outputs

    def epoch(self, epoch, step):
        """One epoch as engine.train_one_epoch draws it (the seed's order, the schedule's lr); its record."""
        trainer, params = self.trainer, self.params
        x_all, y_all = trainer.train
        order = batches.epoch_order(len(y_all), params["seed"], epoch, 0, 1).to(trainer.device)
        loss_sum, correct, seen = torch.zeros((), device=trainer.device), torch.zeros((), device=trainer.device), 0
        t0 = time.perf_counter()
        for i in range(0, len(order), trainer.batch):
            idx = order[i : i + trainer.batch]
            if len(idx) < 2:
                continue
            seen += len(idx)
            if len(idx) not in self.graphs:
                self.capture(len(idx))
            graph, x, y, (loss, right) = self.graphs[len(idx)]
            x.copy_(x_all[idx])
            y.copy_(y_all[idx])
            engine.set_lr(trainer.optimizer, params, step, trainer.steps_per_epoch)
            graph.replay()
            loss_sum += loss * len(idx)
            correct += right
            step += 1
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        record = {"seconds": seconds, "images_per_s": seen / seconds, "train_loss": loss_sum.item() / seen}
        return record | {"train_acc": correct.item() / seen}, step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="where the numbers go, rewritten after each")
    ap.add_argument("--train", type=int, default=7500, help="sample train images (default: %(default)s)")
    ap.add_argument("--val", type=int, default=2500, help="sample val images (default: %(default)s)")
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--size", type=int, default=32, help="image_size (default: %(default)s, the study's)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of the whole run at the end")
    ap.add_argument("--no-full", action="store_true", help="skip the whole run at the end")
    args = ap.parse_args()
    results = Results(args.json)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(dataset="sample", depth=args.depth, epochs=args.epochs, image_size=args.size)
    params["datasets"]["sample"] = {"train_per_class": args.train // 5, "val_per_class": args.val // 5}
    macs = model_summary(MyNet(depth=args.depth, num_classes=len(CLASSES), image_size=args.size), args.size)[
        "macs_per_image"
    ]
    flops = 6 * macs  # forward 2 * MACs, backward twice the forward
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_stages(params, work, only=("download", "select", "fetch", "prepare"))
        cwd = Path.cwd()
        try:
            os.chdir(work)  # checkpoints and the like land in the work folder
            trainer, net, record = epoch({**params, "deterministic": True}, work)
            device, reference = trainer.device, weights(trainer.model)  # one epoch from the seed's init
            results.add(
                device=engine.device_name(device),
                torch=torch.__version__,
                precision=trainer.precision,
                train_flops_per_image=flops,
                peak_flops=peak(device),
                eager_deterministic=per_step(record, trainer),
            )
            trainer, net, record = epoch({**params, "deterministic": False}, work)
            eager = per_step(record, trainer)
            results.add(eager_fast=eager, eager_fast_off_by=off_by(weights(trainer.model), reference))
            if peak(device):
                results.add(mfu_eager=eager["images_per_s"] * flops / peak(device))
            results.add(**profile_steps(trainer, net, params, device))
            results.add(
                syncs_per_step=syncs_per_step(trainer, net, params, device, display_interval=10**9),  # never logging
                syncs_per_step_logging=syncs_per_step(trainer, net, params, device, params["display_interval"]),
            )
            t0 = time.perf_counter()
            engine.evaluate(trainer.model, *trainer.val, engine.EVAL_BATCH, trainer.autocast)
            sync(device)
            results.add(evaluation_s=time.perf_counter() - t0)
            t0 = time.perf_counter()
            with checkpoints.CheckpointWriter() as writer:
                writer.save(trainer, work / "ckpt.pt", 1, trainer.steps_per_epoch, TrainLog())
                training_thread_s = time.perf_counter() - t0  # the snapshot: what training waits for
            results.add(
                checkpoint_training_thread_s=training_thread_s,
                checkpoint_s=time.perf_counter() - t0,
                checkpoint_mb=(work / "ckpt.pt").stat().st_size / 2**20,
            )
            if device.type == "cuda":  # the candidates for CUDA graphs: captured, then compiled (docs/gpu.md)
                try:  # a candidate, not yet the engine's: an error is a result too
                    fast = {**params, "deterministic": False}
                    trainer = engine.setup(fast, work / "data/prepared/train.npz", work / "data/prepared/val.npz")
                    captured = CapturedSteps(trainer, fast)
                    first, step = captured.epoch(0, 0)  # the captures, then the epoch
                    results.add(
                        captured_first_epoch_s=first["seconds"],
                        captured_off_by=off_by(weights(trainer.model), reference),
                    )
                    record, _ = captured.epoch(1, step)
                    results.add(captured=per_step(record, trainer))
                except Exception as e:
                    results.add(captured_error=f"{type(e).__name__}: {e}"[:2000])
                compiled = {**params, "deterministic": False, "compile": True}  # each step marked, as train runs it
                try:
                    t0 = time.perf_counter()
                    trainer, net, _ = epoch(compiled, work)
                    first = time.perf_counter() - t0  # the compile and capture, then one epoch
                    results.add(compiled_first_epoch_s=first, compiled_off_by=off_by(weights(trainer.model), reference))
                    record, _ = engine.train_one_epoch(trainer, net, compiled, 1, 0, TrainLog())
                    speed = per_step(record, trainer)
                    results.add(compiled=speed)
                    if peak(device):
                        results.add(mfu_compiled=speed["images_per_s"] * flops / peak(device))
                    results.add(compiled_profile=profile_steps(trainer, net, compiled, device))
                except Exception as e:
                    results.add(compiled_error=f"{type(e).__name__}: {e}"[:2000])
                    trainer = None  # no compiled step to add the optimizer to
                try:
                    if trainer is None:
                        raise RuntimeError("not measured: the compiled step failed")
                    compile_optimizer_too(trainer, compiled)
                    t0 = time.perf_counter()
                    engine.train_one_epoch(trainer, net, compiled, 2, 0, TrainLog())
                    first = time.perf_counter() - t0
                    record, _ = engine.train_one_epoch(trainer, net, compiled, 3, 0, TrainLog())
                    results.add(compiled_optimizer_first_epoch_s=first, compiled_optimizer=per_step(record, trainer))
                    results.add(compiled_optimizer_profile=profile_steps(trainer, net, compiled, device))
                except Exception as e:
                    results.add(compiled_optimizer_error=f"{type(e).__name__}: {e}"[:2000])
        finally:
            os.chdir(cwd)
        if not args.no_full:
            t0 = time.perf_counter()
            run_stages({**params, "deterministic": "auto"}, work)
            log = TrainLog.read(work / "models/train_log.json")
            results.add(
                full_run={
                    "epochs": args.epochs,
                    "wall_s": time.perf_counter() - t0,
                    "train_s": sum(e.seconds for e in log.epochs),
                    "final_val_acc": log.epochs[-1].val_acc,
                }
            )


if __name__ == "__main__":
    main()

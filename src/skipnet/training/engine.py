"""The training engine: data in memory on the device, normalized once, batches drawn by index.

No per-epoch decoding and no worker processes: each batch is an index into an image
tensor normalized once in the dtype the model's first layer takes (and, with crop_padding or flip, augmented on
the device). bf16 autocast where the device runs it natively, fp16 with a gradient scaler on 7.x GPUs
(skipnet.training.precision),
a checkpoint every checkpoint_every epochs that a rerun resumes from, and DistributedDataParallel
when started under torchrun.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ..config.params import RECIPE_KEYS
from ..config.seeds import stream_seed
from ..data.prepare import train_and_eval_splits
from ..errors import SkipnetError
from . import devices, memory
from . import precision as precisions
from .batches import augment, epoch_order, rank_draws, shard_size
from .checkpoints import CheckpointWriter, checkpoint_file, resume, save_atomic
from .history import Epoch
from .models import build_model, model_file, model_summary
from .pauses import PauseClock

# Params that change what training computes: the resume checkpoint is keyed by them (and the data). compile too: its
# fused kernels round differently from eager's (within 1e-4, tests/test_engine.py), so a resume stays bit for bit.
TRAINING_KEYS = (*RECIPE_KEYS, "classes", "seed", "display_interval", "precision", "deterministic", "compile")


def setup_device(requested, deterministic):
    """(device, why this device, rank, world size, deterministic, why); joins the process group when started by
    torchrun. The device as devices.choose decides (never the CPU for want of a usable GPU without a word).
    deterministic "auto": on a CPU, where it costs nothing here and reruns reproduce bit for bit; not on a GPU,
    where cuDNN's autotuned, nondeterministic kernels are the fast path."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    kind, device_why = devices.choose(requested)
    if kind == "cuda":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    why = (
        "asked for"
        if deterministic != "auto"
        else "auto: " + ("a CPU run reproduces bit for bit" if device.type == "cpu" else "on a GPU, the fast path")
    )
    deterministic = device.type == "cpu" if deterministic == "auto" else deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    # torch.use_deterministic_algorithms also sets torch.compile's flag, importing inductor (1.7 s of every start):
    # eager runs set the flag alone; wrap() makes the public call where it compiles
    torch._C._set_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, device_why, rank, world, deterministic, why


def device_name(device):
    """The machine a run's numbers come from, e.g. "cpu: AMD EPYC (AVX512), 2 threads"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        model = names[0] if names else model
    return f"cpu: {model} ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads"


def input_dtype(precision):
    """The dtype images are kept in on the device: the one autocast runs the model's first layer in (a conv, in
    both architectures), so images normalized once in it are exactly what that layer took from per-batch fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def to_device_tensors(images, labels, device, dtype):
    """uint8 NHWC numpy -> images normalized once as the study did (Normalize(0.5, 0.5): [0, 255] -> [-1, 1]), in
    `dtype`, NCHW in channels_last memory on the device (a batch drawn by index stays channels_last); labels."""
    x = torch.from_numpy(images).to(device)  # uint8 crosses to the device: 4x less than float
    x = x.float().div_(127.5).sub_(1.0).to(dtype).permute(0, 3, 1, 2)  # NHWC memory: an NCHW view, channels_last
    return x, torch.from_numpy(labels).to(device)


def batch_norm(trainer):
    """How BatchNorm's statistics are taken, stated in the log and the train log."""
    if trainer.world == 1:
        return "per batch (one rank)"
    if trainer.device.type == "cuda":
        return f"synchronized across {trainer.world} ranks (SyncBatchNorm): the global batch's"
    return (
        "per rank's share of the batch, rank 0's running statistics broadcast each step (DDP); SyncBatchNorm needs CUDA"
    )


def make_optimizer(model, params, device, precision):
    # Measured (bench/train_throughput.py): fused Adam is faster on CUDA and for fp32 on CPU (+11% with
    # native bf16 hardware, +25% without); for bf16 on CPU foreach was 4% faster.
    fused = device.type == "cuda" or precision == "fp32"
    # Fused Adam takes the lr as a tensor, which the schedule writes in place (set_lr): on CUDA, with capturable, its
    # step can then sit inside a CUDA graph. foreach (bf16 on a CPU) takes a float.
    lr = torch.tensor(params["lr"], dtype=torch.float32, device=device) if fused else params["lr"]
    fast = {"fused": True, "capturable": device.type == "cuda"} if fused else {"foreach": True}
    optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[params["optimizer"]]
    return optimizer(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=params["weight_decay"], **fast)


def set_lr(optimizer, params, step, steps_per_epoch):
    """Set the lr of the step after `step` steps (warmup, then the schedule), in place where it is a tensor; return
    it as a float: the schedule is a function of the step alone, so a resume needs no scheduler state."""
    value = scheduled_lr(params, step, steps_per_epoch)
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(value)
        else:
            group["lr"] = value
    return value


def scheduled_lr(params, step, steps_per_epoch):
    """The lr of the step after `step` steps."""
    return params["lr"] * lr_factor(step, steps_per_epoch, params)


def lr_factor(step, steps_per_epoch, params):
    """The lr multiplier at `step`: linear warmup over warmup_epochs, then constant or cosine decay to zero."""
    warmup = params["warmup_epochs"] * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if params["lr_schedule"] == "constant":
        return 1.0
    total = params["epochs"] * steps_per_epoch
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def grad_norms(groups):
    """L2 norm of the gradients of each named parameter group, as a dict: one host transfer for all groups."""
    return dict(zip(groups, grad_norm_values(groups).tolist()))


def grad_norm_values(groups):
    """The L2 norm of each group's gradients, in the groups' order, as one tensor on the device (0 for a group without
    gradients): one foreach kernel per group for the per-tensor norms."""
    grouped = [[p for m in modules for p in m.parameters()] for modules in groups.values()]
    device = next(p.device for params in grouped for p in params)
    norms = []
    for params in grouped:
        grads = [p.grad.detach() for p in params if p.grad is not None]
        norm = torch.stack(torch._foreach_norm(grads)).float().norm() if grads else torch.zeros((), device=device)
        norms.append(norm)
    return torch.stack(norms)


class LoggedStep:
    """A logging step's running loss and gradient norms, copied to the host without waiting for the device (into
    pinned memory, an event marking the copy's end, on a GPU) and read at the next logging step or the epoch's end,
    when the copy has long finished: logging never stalls training, and a non-finite loss still names its step."""

    def __init__(self, step, epoch, lr, values, losses):
        """values: the sum of the last `losses` losses, then each group's gradient norm."""
        self.step, self.epoch, self.lr, self.losses, self.copied = step, epoch, lr, losses, None
        self.values = values
        if values.device.type == "cuda":
            self.values = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
            self.values.copy_(values, non_blocking=True)
            self.copied = torch.cuda.Event()
            self.copied.record()

    def read_into(self, history, group_names):
        """Append the step's running loss and gradient norms to `history` and return the loss; raise if it diverged."""
        if self.copied:
            self.copied.synchronize()
        loss_sum, *norms = self.values.tolist()
        loss = loss_sum / self.losses
        if not math.isfinite(loss):
            raise diverged(loss, self.epoch, self.step, self.lr)
        history.running_loss.append({"step": self.step, "epoch": self.epoch + 1, "loss": loss})
        history.grad_norms.append({"step": self.step, **dict(zip(group_names, norms))})
        return loss


def fingerprint(params, precision, train_path):
    """What a checkpoint must match to be resumed: the training params (with the precision
    `auto` resolved to on this machine) and the training data."""
    keys = {k: params[k] for k in TRAINING_KEYS} | {"precision": precision}
    h = hashlib.sha256(json.dumps(keys, sort_keys=True).encode())
    with open(train_path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


# Images per forward pass when evaluating (the train stage's val pass and predict alike): val's 1,915 images in two
# passes. Without gradients a pass keeps about two layers' outputs: 1024 x 64 x 16 x 16 floats is 67 MB.
EVAL_BATCH = 1024


def evaluate(model, x, y, batch_size, autocast):
    """(mean loss, accuracy, logits) over a whole split of to_device_tensors' images, in eval mode; accuracy is
    correct / n exactly."""
    model.eval()
    with torch.no_grad(), autocast:
        logits = torch.cat([model(x[i : i + batch_size]).float() for i in range(0, len(y), batch_size)])
    model.train()
    loss = F.cross_entropy(logits, y).item()
    return loss, int((logits.argmax(1) == y).sum()) / len(y), logits


@dataclasses.dataclass
class Trainer:
    """What training needs before its first step (one Trainer per training run); built by `setup`, used by every
    part of training."""

    device: torch.device
    rank: int
    world: int
    precision: str
    precision_reason: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    criterion: nn.Module
    autocast: contextlib.AbstractContextManager
    scaler: torch.amp.GradScaler
    groups: dict
    train: tuple  # (normalized images, labels) on the device (to_device_tensors)
    val: tuple
    classes: list
    batch: int  # per rank
    fingerprint: str
    clock: PauseClock  # training time without the pauses of a stopped process


def setup(params, train_path, val_path, log=print):
    """Device, data on it, model, optimizer, lr schedule and loss, from params."""
    device, device_why, rank, world, deterministic, why = setup_device(params["device"], params["deterministic"])
    if params["batch_size"] % world or params["batch_size"] // world < 2:  # batch_size is global across ranks
        raise SkipnetError(
            f"batch_size {params['batch_size']} does not split into batches of 2 or more over "
            f"{world} ranks: give a multiple of {world} of at least {2 * world}"
        )
    precision, precision_reason = precisions.resolve(params["precision"], device)
    if rank == 0:
        log(
            f"device: {device_name(device)} ({device_why}); precision: {precision} ({precision_reason}); "
            f"deterministic: {'yes' if deterministic else 'no'} ({why})"
        )
    torch.manual_seed(stream_seed(params["seed"], "init"))
    (images, labels), (val_images, val_labels), classes = train_and_eval_splits(
        train_path, val_path, params["tune_holdout"], params["seed"]
    )
    memory.check_fits(params, len(classes), params["batch_size"] // world, len(labels) + len(val_labels), device)
    dtype = input_dtype(precision)
    train = to_device_tensors(images, labels, device, dtype)
    val = to_device_tensors(val_images, val_labels, device, dtype)
    model = build_model(params, len(classes))
    # channels_last: faster on CUDA and, measured, on CPU too (fp32 +7% to +12%, bf16 +6%)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = make_optimizer(model, params, device, precision)
    batch = params["batch_size"] // world
    steps_per_epoch = math.ceil(shard_size(len(labels), world) / batch)
    return Trainer(
        device,
        rank,
        world,
        precision,
        precision_reason,
        model,
        optimizer,
        steps_per_epoch,
        nn.CrossEntropyLoss(label_smoothing=params["label_smoothing"]),
        precisions.autocast(device.type, precision),
        precisions.grad_scaler(device.type, precision),
        model.stage_groups(),
        train,
        val,
        classes,
        batch,
        fingerprint(params, precision, train_path),
        PauseClock(),
    )


def wrap(trainer, params):
    """The module the steps call: DDP across ranks, torch.compile when asked; with several CUDA ranks,
    BatchNorm synchronized across them, so its statistics are the global batch's as on one GPU."""
    if trainer.world > 1 and trainer.device.type == "cuda":  # the same Parameters and buffers: the optimizer keeps them
        trainer.model = nn.SyncBatchNorm.convert_sync_batchnorm(trainer.model)
    net = trainer.model
    if trainer.world > 1:  # in2out is unused in MyNet's forward: static_graph tolerates that
        net = nn.parallel.DistributedDataParallel(net, static_graph=True)
    if params["compile"]:
        torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())  # inductor's flag too
        # CUDA graphs on a GPU: MyNet's small kernels at batch 128 are bound by their launches; inductor's C++ on a CPU
        mode = "reduce-overhead" if trainer.device.type == "cuda" else "default"
        net = torch.compile(net, mode=mode, dynamic=False)  # a graph per batch shape: two
    return net


def diverged(loss, epoch, step, lr):
    return SkipnetError(
        f"training diverged: loss {loss} by epoch {epoch + 1}, step {step} (lr {lr:g}); stopped, "
        f"nothing written. Lower lr, or train in fp32 (precision: fp32)"
    )


def train_one_epoch(trainer, net, params, epoch, step, history):
    """One pass over this rank's shard of train; returns (the epoch's train metrics and timing, step).

    Appends the running loss and gradient norms of every display_interval-th step to `history`.
    """
    x_train, y_train = trainer.train
    device = trainer.device
    t0, wall0 = trainer.clock.now(), time.perf_counter()
    order = epoch_order(len(y_train), params["seed"], epoch, trainer.rank, trainer.world).to(device)
    augmented = params["crop_padding"] > 0 or params["flip"]
    if augmented:
        draws = rank_draws(
            len(y_train),
            trainer.rank,
            trainer.world,
            params["crop_padding"],
            torch.Generator().manual_seed(stream_seed(params["seed"], "augment", epoch)),
            device,
        )
    # Sums stay on the device; a logging step's values reach the host without a wait (LoggedStep).
    running, n_running, logged = torch.zeros((), device=device), 0, None
    loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    last_lr = scheduled_lr(params, max(step - 1, 0), trainer.steps_per_epoch)
    bar = tqdm(
        range(0, len(order), trainer.batch),
        desc=f"epoch {epoch + 1}/{params['epochs']}",
        unit="batch",
        disable=trainer.rank != 0,
        leave=False,
    )
    for i in bar:
        idx = order[i : i + trainer.batch]
        if len(idx) < 2:  # BatchNorm cannot train on a single image
            continue
        x = x_train[idx]
        if augmented:
            x = augment(x, params["crop_padding"], params["flip"], draws[:, i : i + trainer.batch])
        y = y_train[idx]
        if params["compile"] and device.type == "cuda":  # a new step: CUDA graphs may reuse the last one's outputs
            torch.compiler.cudagraph_mark_step_begin()
        with trainer.autocast:
            logits = net(x)
            loss = trainer.criterion(logits.float(), y)
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.scaler.scale(loss).backward()
        step += 1
        running, n_running = running + loss.detach(), n_running + 1
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if step % params["display_interval"] == 0:
            trainer.scaler.unscale_(trainer.optimizer)  # fp16: the norms of the true gradients (a no-op otherwise)
            values = torch.cat([running.reshape(1), grad_norm_values(trainer.groups)])
            if logged:  # the last logging step's, copied by now
                bar.set_postfix(loss=f"{logged.read_into(history, trainer.groups):.3f}")
            logged = LoggedStep(step, epoch, last_lr, values, n_running)
            running, n_running = torch.zeros((), device=device), 0
        last_lr = set_lr(trainer.optimizer, params, step - 1, trainer.steps_per_epoch)  # what this step uses
        trainer.scaler.step(trainer.optimizer)  # fp16: skips a step whose gradients overflowed
        trainer.scaler.update()
    if logged:
        logged.read_into(history, trainer.groups)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = trainer.clock.now() - t0
    history.wall_seconds += time.perf_counter() - wall0  # pauses included
    if not math.isfinite(loss_sum.item()):
        raise diverged(loss_sum.item(), epoch, step, last_lr)
    return {
        "train_loss": loss_sum.item() / seen,
        "train_acc": correct.item() / seen,
        "lr": last_lr,
        "seconds": seconds,
        "images_per_s": seen * trainer.world / seconds,
    }, step


def train(params, train_path, val_path, model_path, checkpoint_dir, log=print, on_epoch=None, before_save=None):
    """Train per params; return (model, TrainLog: per-epoch metrics, running loss, gradient norms, speed, model size).

    A checkpoint every checkpoint_every epochs (none after the last), in checkpoint_dir under the run's
    fingerprint, lets a rerun of an interrupted run resume from it; it is removed once the model is saved.
    `on_epoch(record)` is called on rank 0 with each epoch's metrics (its checkpoint, if any, being written);
    after a resume, first with every epoch the checkpoint already holds, so a log rebuilt from
    these calls has each epoch exactly once. `before_save()` runs on rank 0 before the model is written
    (raising there writes nothing). A non-finite loss stops training with a SkipnetError.
    """
    trainer = setup(params, train_path, val_path, log)
    log = log if trainer.rank == 0 else (lambda *a, **k: None)
    checkpoint = checkpoint_file(checkpoint_dir, trainer.fingerprint)
    history, start_epoch, step = resume(trainer, checkpoint, log)
    if start_epoch:
        log(f"resumed from {checkpoint}: epoch {start_epoch} of {params['epochs']} already done")
    on_epoch = on_epoch if on_epoch and trainer.rank == 0 else (lambda record: None)
    for record in history.epochs:
        on_epoch(record)
    net = wrap(trainer, params)
    history.batch_norm = batch_norm(trainer)
    log(f"BatchNorm statistics: {history.batch_norm}")
    with CheckpointWriter() as writer:
        for epoch in range(start_epoch, params["epochs"]):
            trained, step = train_one_epoch(trainer, net, params, epoch, step, history)
            val_loss, val_acc, logits = evaluate(trainer.model, *trainer.val, EVAL_BATCH, trainer.autocast)
            if not math.isfinite(val_loss):
                raise diverged(val_loss, epoch, step, trained["lr"])
            record = Epoch(epoch=epoch + 1, val_loss=val_loss, val_acc=val_acc, **trained)
            history.epochs.append(record)
            if epoch + 1 == params["epochs"]:  # the one evaluation of the final model: the evaluate stage reports it
                history.val_predicted = logits.argmax(1).tolist()
                history.val_probs = logits.softmax(1).tolist()
            log(
                f"epoch {epoch + 1}/{params['epochs']}: train loss {record.train_loss:.3f}, "
                f"val loss {val_loss:.3f}, val acc {val_acc:.4f}, {record.images_per_s:.0f} img/s"
            )
            # every checkpoint_every epochs, not after the last: the model file is written then
            if trainer.rank == 0 and (epoch + 1) % params["checkpoint_every"] == 0 and epoch + 1 < params["epochs"]:
                writer.save(trainer, checkpoint, epoch + 1, step, history)
            on_epoch(record)
    history.device, history.world_size = device_name(trainer.device), trainer.world
    history.precision, history.precision_reason = trainer.precision, trainer.precision_reason
    history.model = model_summary(trainer.model, params["image_size"])
    if trainer.world > 1:
        dist.barrier()  # every rank has finished its last step before rank 0 writes the model
    if trainer.rank == 0:
        if before_save:
            before_save()
        save_atomic(model_file(trainer.model, params, trainer.classes, trainer.precision), model_path)
        checkpoint.unlink(missing_ok=True)
        others = sorted(Path(checkpoint_dir).glob("*.pt"))
        if others:  # kept: a rerun of their params resumes from them; listed, so abandoned ones can go
            size = sum(p.stat().st_size for p in others) / 2**20
            log(
                f"{len(others)} resume checkpoints of other unfinished runs in {checkpoint_dir} ({size:.0f} MB): "
                f"{', '.join(p.name for p in others)}; delete the abandoned ones"
            )
    if trainer.world > 1:
        dist.destroy_process_group()
    return trainer.model, history

"""Resume checkpoints: one per run, keyed by the run's fingerprint (its training params and data), written
atomically every checkpoint_every epochs, off the training thread, and never a DVC output (docs/architecture.md,
"Run-cache")."""

import contextlib
import threading
from pathlib import Path

import torch
import torch.distributed as dist

from ..errors import SkipnetError
from ..files import atomic_path
from .history import TrainLog

# Bump when what save_checkpoint writes changes: a checkpoint of another version is set aside, never half-read.
CHECKPOINT_VERSION = 4
KEYS = ("model", "optimizer", "scaler", "rng_cpu", "epoch", "step", "history", "fingerprint")


def unusable(ckpt, want_fingerprint, model):
    """Why a loaded checkpoint cannot be resumed from, or None."""
    if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
        version = ckpt.get("version") if isinstance(ckpt, dict) else None
        return f"of format version {version}, not {CHECKPOINT_VERSION}"
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        return f"missing {', '.join(missing)}"
    if ckpt["fingerprint"] != want_fingerprint:
        return "written under other params or data"
    saved, want = ckpt["model"], model.state_dict()
    if not isinstance(saved, dict) or {k: getattr(v, "shape", None) for k, v in saved.items()} != {
        k: v.shape for k, v in want.items()
    }:
        return "of another model layout"
    try:
        TrainLog.from_json(ckpt["history"])
    except SkipnetError:
        return "of another train log layout"
    return None


def load_checkpoint(path, want_fingerprint, model, log):
    """The checkpoint to resume from, or None; one that cannot be used (torn, of another version or layout, written
    under other params) is renamed aside, named in one line, and training starts over."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file: never trust it
        ckpt, why = None, f"unreadable ({type(e).__name__})"
    else:
        why = unusable(ckpt, want_fingerprint, model)
    if why:
        aside = path.with_name(path.stem + ".stale" + path.suffix)
        path.replace(aside)
        log(f"checkpoint {path} is {why}: set aside as {aside}, training from scratch")
        return None
    return ckpt


def checkpoint_file(checkpoint_dir, run_fingerprint):
    """Where a run with this fingerprint keeps its resume checkpoint: one file per run, never a DVC output."""
    return Path(checkpoint_dir) / f"{run_fingerprint[:16]}.pt"


def snapshot(trainer, epoch, step, history):
    """What a checkpoint holds, copied to host memory now (pinned, without waiting, from a GPU), so that the steps
    that follow cannot change what is written; with the event that marks the copies done (None on a CPU)."""

    def host(value):
        if torch.is_tensor(value):
            if value.device.type == "cpu":
                return value.detach().clone()
            return torch.empty_like(value, device="cpu", pin_memory=True).copy_(value.detach(), non_blocking=True)
        if isinstance(value, dict):
            return {k: host(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(host(v) for v in value)
        return value

    state = host(
        {
            "version": CHECKPOINT_VERSION,
            "model": trainer.model.state_dict(),
            "optimizer": trainer.optimizer.state_dict(),
            "scaler": trainer.scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "epoch": epoch,
            "step": step,
            "history": history.to_json(),
            "fingerprint": trainer.fingerprint,
        }
    )
    copied = torch.cuda.Event() if trainer.device.type == "cuda" else None
    if copied:
        copied.record()
    return state, copied


class CheckpointWriter:
    """Writes resume checkpoints off the training thread: `save` takes a snapshot and returns, a thread writes it
    (atomically: a reader sees the last whole checkpoint or none). One write at a time: `save`, `wait` and leaving
    the `with` block wait for the write before and raise its error (out of space, say) on the training thread."""

    def __init__(self):
        self.thread, self.error = None, None

    def save(self, trainer, path, epoch, step, history):
        self.wait()
        state, copied = snapshot(trainer, epoch, step, history)
        self.thread = threading.Thread(target=self.write, args=(state, copied, path), name="checkpoint")
        self.thread.start()

    def write(self, state, copied, path):
        try:
            if copied:
                copied.synchronize()
            save_atomic(state, path)
        except BaseException as e:  # raised on the training thread by wait()
            self.error = e

    def __enter__(self):
        return self

    def __exit__(self, failure, *_):
        """No write is left half-done, also when training fails; then the training failure is the one raised."""
        with contextlib.suppress(Exception) if failure else contextlib.nullcontext():
            self.wait()

    def wait(self):
        """Return once no write is under way; raise the error of the last one, if it failed."""
        if self.thread:
            self.thread.join()
            self.thread = None
        error, self.error = self.error, None
        if error:
            raise error


def resume(trainer, path, log):
    """(history, epochs done, steps done): restored from the checkpoint at `path`, or a fresh start. Under torchrun
    rank 0 alone reads it (and sets a torn or stale one aside) and sends it to every rank, so that all ranks resume
    from the same epoch, step, weights, optimizer and schedule (a node-local disk holds it on rank 0's node only)."""
    ckpt = load_checkpoint(path, trainer.fingerprint, trainer.model, log) if trainer.rank == 0 else None
    if trainer.world > 1:
        box = [ckpt]
        dist.broadcast_object_list(box, src=0, device=trainer.device if trainer.device.type == "cuda" else None)
        ckpt = box[0]
    if ckpt is None:
        return TrainLog(), 0, 0
    trainer.model.load_state_dict(ckpt["model"])
    lrs = [group["lr"] for group in trainer.optimizer.param_groups]
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    for group, lr in zip(trainer.optimizer.param_groups, lrs):  # the saved lr tensor was loaded to the CPU; keep the
        group["lr"] = lr  # one on the training device, which the schedule writes before every step (engine.set_lr)
    trainer.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng_cpu"])
    return TrainLog.from_json(ckpt["history"]), ckpt["epoch"], ckpt["step"]


def save_atomic(obj, path):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # our file object: closed (its space freed) on any error
        torch.save(obj, f)

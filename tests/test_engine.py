"""The training engine: determinism, precision, checkpoints, DDP on two CPU processes (resume after SIGKILL:
test_dvc_cache.py, through `dvc exp run`)."""

import copy
import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.utils._python_dispatch
import yaml

from conftest import MAIN_PARAMS, REPO, copy_repo, free_port, set_params
from skipnet.analysis import study
from skipnet.config.seeds import stream_seed
from skipnet.data.prepare import load_split, save_split
from skipnet.training import batches, checkpoints, engine
from skipnet.training import precision as precisions
from skipnet.training.history import TrainLog
from skipnet.training.models import build_model

TIMING = ("seconds", "images_per_s")


def params(**overrides):
    p = copy.deepcopy(MAIN_PARAMS)
    p.update({"dataset": "sample", "depth": 1, "epochs": 4, "batch_size": 64, **overrides})
    return p


def without_timing(history):
    return [{k: v for k, v in dataclasses.asdict(e).items() if k not in TIMING} for e in history.epochs]


def test_same_params_twice_give_identical_results(tiny_sample, tmp_path):
    train, val = tiny_sample
    p = params(epochs=1, batch_size=32, display_interval=1)
    model_a, a = engine.train(p, train, val, tmp_path / "a.pt", tmp_path / "resume_a", log=lambda *_: None)
    model_b, b = engine.train(p, train, val, tmp_path / "b.pt", tmp_path / "resume_b", log=lambda *_: None)
    assert without_timing(a) == without_timing(b) and len(a.running_loss) == 3  # every step logged
    assert a.running_loss == b.running_loss and a.grad_norms == b.grad_norms
    for x, y in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(x, y)


def test_the_initial_weights_come_from_the_init_seed_alone(tiny_sample):
    """The model is the first thing drawn from the seed's init stream: the checks before it (the memory estimate
    builds small copies of the model) leave the stream as they found it, so a seed starts from the same weights in
    every version that builds the same model."""
    p = params()
    trainer = engine.setup(p, *tiny_sample, log=lambda *_: None)
    torch.manual_seed(stream_seed(p["seed"], "init"))
    fresh = build_model(p, len(trainer.classes))
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[name]), name


def test_fp32_learns_the_sample(small_sample, tmp_path):
    """fp32 where auto picks bf16 (where auto is fp32, the quick start trains in fp32: its depth and epochs)."""
    train, val, _ = small_sample
    if precisions.resolve("auto", torch.device("cpu"))[0] == "fp32":
        pytest.skip("auto is fp32 on this CPU: the quick start trains exactly this")
    _, h = engine.train(
        params(precision="fp32"), train, val, tmp_path / "m.pt", tmp_path / "resume", log=lambda *_: None
    )
    assert h.epochs[-1].val_acc >= 0.6, h.epochs
    # nothing paused it: the training time (pauses left out, tests/test_pauses.py) is its wall time
    training = sum(e.seconds for e in h.epochs)
    assert training > 0 and abs(h.wall_seconds - training) < 0.01 * training
    assert h.epochs[-1].train_loss < h.epochs[0].train_loss
    assert h.precision == "fp32" and h.precision_reason.startswith("asked for")


def test_explicit_bf16_trains_on_any_cpu(tiny_sample, tmp_path):
    """bf16 asked for is used even where it is emulated (slowly: hence 3 steps of 8 images here)."""
    for path, every in zip(tiny_sample, (4, 5)):  # 24 train and 8 val images, every class
        images, labels, classes = load_split(path)
        save_split(tmp_path / path.name, images[::every], labels[::every], classes)
    _, h = engine.train(
        params(precision="bf16", epochs=1, batch_size=8, display_interval=1),
        tmp_path / "train.npz",
        tmp_path / "val.npz",
        tmp_path / "m.pt",
        tmp_path / "resume",
        log=lambda *_: None,
    )
    assert h.precision == "bf16" and h.precision_reason.startswith("asked for")
    assert len(h.running_loss) == 3 and all(math.isfinite(r["loss"]) for r in h.running_loss)


@pytest.mark.parametrize("arch", ["mynet", "net3"])
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_images_normalized_once_are_what_the_first_layer_took_per_batch(arch, precision, tiny_sample):
    """Images normalized once, in the dtype autocast runs the first layer in, give bit for bit the logits of the
    per-batch path they replace (uint8 batch -> fp32 Normalize(0.5, 0.5) -> channels_last -> autocast)."""
    images, labels, _ = load_split(tiny_sample[0])
    x, _ = engine.to_device_tensors(images, labels, torch.device("cpu"), engine.input_dtype(precision))
    assert x.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    per_batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float().div_(127.5).sub_(1.0)
    per_batch = per_batch.contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    model = build_model({**MAIN_PARAMS, "arch": arch, "depth": 1, "image_size": 32}, 5)
    model = model.to(memory_format=torch.channels_last)
    idx = torch.tensor([5, 0, 17, 3])
    with torch.no_grad(), precisions.autocast("cpu", precision):
        assert torch.equal(model(x[idx]), model(per_batch[idx]))


def test_improved_recipe_learns_the_sample(small_sample, tmp_path):
    train, val, _ = small_sample
    _, h = engine.train(
        params(**study.IMPROVED, epochs=3), train, val, tmp_path / "m.pt", tmp_path / "resume", log=lambda *_: None
    )
    assert h.epochs[-1].val_acc >= 0.55, h.epochs  # 0.67 on the lock (bf16, fp32), 0.59 on torch 2.9.1 (bf16)


def test_lr_schedule_warms_up_then_decays_to_zero():
    p = params(lr_schedule="cosine", warmup_epochs=2, epochs=10)
    factors = [engine.lr_factor(s, 10, p) for s in range(100)]
    assert factors[0] == pytest.approx(0.05) and factors[19] == pytest.approx(1.0)
    assert factors[20] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(a >= b for a, b in zip(factors[20:], factors[21:]))
    assert engine.lr_factor(50, 10, params()) == 1.0
    warm_then_flat = [engine.lr_factor(s, 10, params(warmup_epochs=1, epochs=10)) for s in range(100)]
    assert warm_then_flat[0] == pytest.approx(0.1) and warm_then_flat[10:] == [1.0] * 90


@pytest.mark.parametrize("optimizer,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizer_knob_picks_the_class_with_its_weight_decay(optimizer, cls):
    model = torch.nn.Linear(3, 2)
    opt = engine.make_optimizer(model, params(optimizer=optimizer, weight_decay=0.05), torch.device("cpu"), "fp32")
    assert type(opt) is cls and opt.param_groups[0]["weight_decay"] == 0.05


def draws(n, padding):
    return batches.augment_draws(n, padding, torch.Generator().manual_seed(0), torch.device("cpu"))


def test_grad_norms_are_each_groups_l2_norm_in_one_transfer():
    a, b, c = torch.nn.Linear(3, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    for m, value in ((a, 1.0), (b, 2.0)):
        for p in m.parameters():
            p.grad = torch.full_like(p, value)
    got = engine.grad_norms({"a": [a], "b": [b], "none": [c]})  # c has no gradients
    assert got == pytest.approx({"a": math.sqrt(8 * 1.0), "b": math.sqrt(6 * 4.0), "none": 0.0})


def test_augment_flip_alone_and_crop_alone():
    x = torch.randn(16, 3, 8, 8)
    flipped = batches.augment(x, 0, True, draws(16, 0))
    assert all(torch.equal(f, i) or torch.equal(f, i.flip(2)) for f, i in zip(flipped, x))
    assert not torch.equal(flipped, x)
    cropped = batches.augment(x, 2, False, draws(16, 2))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    assert all(
        any(torch.equal(c, padded[i, :, dy : dy + 8, dx : dx + 8]) for dy in range(5) for dx in range(5))
        for i, c in enumerate(cropped)
    )
    assert torch.equal(batches.augment(x, 0, False, draws(16, 0)), x)


def test_augment_is_a_padded_crop_maybe_flipped_of_each_image():
    x = torch.randn(16, 3, 8, 8)
    out = batches.augment(x, 2, True, draws(16, 2))
    assert out.is_contiguous(memory_format=torch.channels_last)  # as the model takes it: no conversion per step
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(16):
        crops = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        plain = any(torch.equal(out[i], c) for c in crops)
        flipped = any(torch.equal(out[i], c.flip(2)) for c in crops)
        assert plain or flipped
        flips += flipped and not plain
    assert 0 < flips < 16
    assert not torch.equal(out, x)


def test_epoch_order_shards_are_disjoint_and_cover():
    shards = [batches.epoch_order(101, 7, 3, r, 2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert torch.equal(batches.epoch_order(101, 7, 3, 0, 2), shards[0])


def _stage_repo(path, sample, **overrides):
    """A repo copy holding `sample`'s (train.npz, val.npz) as the prepare stage's output."""
    repo = copy_repo(path)
    train, val = sample[:2]
    (repo / "data/prepared").mkdir(parents=True)
    shutil.copy(train, repo / "data/prepared/train.npz")
    shutil.copy(val, repo / "data/prepared/val.npz")
    set_params(repo, **{"dataset": "sample", "depth": 1, "epochs": 4, "batch_size": 32, **overrides})
    return repo


def test_deterministic_auto_is_on_for_a_cpu_and_says_why():
    try:
        device, _, _, _, on, why = engine.setup_device("cpu", "auto")
        assert device.type == "cpu" and on and why == "auto: a CPU run reproduces bit for bit"
        assert torch.are_deterministic_algorithms_enabled()
        assert engine.setup_device("cpu", False)[4:] == (False, "asked for")
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(True)


class Stop(Exception):
    """Raised by an on_epoch callback: as if the run were killed there."""


def stop_at(epoch):
    def on_epoch(record):
        if record.epoch == epoch:
            raise Stop

    return on_epoch


def test_a_checkpoint_every_n_epochs_and_none_after_the_last(tiny_sample, tmp_path):
    """checkpoint_every 2 of 3 epochs: a run stopped after epoch 1 leaves none; stopped after epoch 3 (the last,
    which writes none), epoch 2's, whole (the write under way when training stops is finished); a run that ends
    leaves none and the model."""
    p, resume_dir = params(epochs=3, batch_size=32, checkpoint_every=2), tmp_path / "resume"
    for epoch, saved in ((1, []), (3, [2])):
        shutil.rmtree(resume_dir, ignore_errors=True)
        with pytest.raises(Stop):
            engine.train(p, *tiny_sample, tmp_path / "m.pt", resume_dir, log=lambda *_: None, on_epoch=stop_at(epoch))
        assert [torch.load(f, weights_only=True)["epoch"] for f in resume_dir.glob("*.pt")] == saved
    engine.train(p, *tiny_sample, tmp_path / "m.pt", resume_dir, log=lambda *_: None)
    assert not list(resume_dir.glob("*.pt")) and (tmp_path / "m.pt").exists()


def test_a_checkpoint_is_written_off_the_training_thread_as_it_was_when_saved(tiny_sample, tmp_path):
    """The writer snapshots, then writes in a thread: steps taken meanwhile do not reach the file; a failed write
    is raised on the training thread, by the next wait."""
    trainer = engine.setup(params(), *tiny_sample, log=lambda *_: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with checkpoints.CheckpointWriter() as writer:
        writer.save(trainer, tmp_path / "c.pt", 1, 3, TrainLog())
        assert writer.thread.name == "checkpoint"
        with torch.no_grad():
            for p in trainer.model.parameters():
                p.add_(1.0)  # the next step, while the thread writes
    saved = torch.load(tmp_path / "c.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in before.items())
    (tmp_path / "file").write_text("")
    writer.save(trainer, tmp_path / "file" / "c.pt", 1, 3, TrainLog())  # returns: the thread fails
    with pytest.raises(Exception, match="file"):
        writer.wait()
    writer.wait()  # raised once


def test_checkpoints_are_keyed_by_params_and_a_torn_one_is_set_aside(tiny_sample, tmp_path):
    p = params(epochs=1, batch_size=32)
    train, val = tiny_sample
    trainer = engine.setup(p, train, val, log=lambda *_: None)
    other = engine.setup({**p, "lr": 0.0005}, train, val, log=lambda *_: None)
    ckpt = checkpoints.checkpoint_file(tmp_path, trainer.fingerprint)
    assert ckpt != checkpoints.checkpoint_file(tmp_path, other.fingerprint)
    ckpt.write_bytes(b"torn")
    logged = []
    _, h = engine.train(p, train, val, tmp_path / "m.pt", tmp_path, log=logged.append)
    assert any("unreadable" in line and "set aside" in line for line in logged), logged
    assert len(h.epochs) == 1 and ckpt.with_name(ckpt.stem + ".stale.pt").exists() and not ckpt.exists()


def torchrun(ranks, params_file, train, val, out, **popen):
    """tests/ddp_worker.py on `ranks` gloo ranks; 1: a plain process, no torchrun."""
    launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", f"--master_port={free_port()}"]
    command = [
        sys.executable,
        *(launcher if ranks > 1 else []),
        str(REPO / "tests/ddp_worker.py"),
        str(params_file),
        str(train),
        str(val),
        str(out),
    ]
    return subprocess.Popen(
        command, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, **popen
    )


def ddp_result(out, ranks):
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(ranks)]


def test_ddp_ranks_agree_resume_together_and_augment_as_one_rank(tiny_sample, tmp_path):
    """2 gloo ranks: the same model on disjoint samples; killed (SIGKILL, the whole torchrun) after the first
    epoch's checkpoint and rerun, they end with the parameters and BatchNorm buffers of an uninterrupted 2-rank
    run; and each image gets the augmentation a 1-rank run of the same seed gives it."""
    train, val = tiny_sample
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params(epochs=2, batch_size=16, crop_padding=2, flip=True)))
    outs = {name: tmp_path / name for name in ("whole", "killed")}
    for out in outs.values():
        out.mkdir()
    proc = torchrun(2, tmp_path / "params.yaml", train, val, outs["whole"])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    whole = ddp_result(outs["whole"], 2)
    assert whole[0]["weights"] == whole[1]["weights"]  # one model: DDP averages every step's gradients
    for a, b in zip(whole[0]["orders"], whole[1]["orders"]):  # per epoch: disjoint shards of equal length
        assert not set(a) & set(b) and len(a) == len(b)
    n = len(load_split(train)[1])
    for epoch in range(2):  # what a 1-rank run of the seed draws for each image (its epoch order and draws)
        seed, generator = (
            MAIN_PARAMS["seed"],
            torch.Generator().manual_seed(stream_seed(MAIN_PARAMS["seed"], "augment", epoch)),
        )
        one = dict(
            zip(
                map(str, batches.epoch_order(n, seed, epoch, 0, 1).tolist()),
                batches.rank_draws(n, 0, 1, 2, generator, torch.device("cpu")).T.tolist(),
            )
        )
        merged = {**whole[0]["augmented"][epoch], **whole[1]["augmented"][epoch]}
        assert merged and all(one[i] == d for i, d in merged.items())

    proc = torchrun(2, tmp_path / "params.yaml", train, val, outs["killed"])
    deadline = time.time() + 300
    while not list((outs["killed"] / "resume").glob("*.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (outs["killed"] / "model.pt").exists()
    proc = torchrun(2, tmp_path / "params.yaml", train, val, outs["killed"])
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    resumed = ddp_result(outs["killed"], 2)
    assert [r["state"] for r in resumed] == [r["state"] for r in whole]  # parameters and buffers, every rank
    assert len(resumed[0]["orders"]) == 1  # it did resume: only the second epoch was drawn again


def test_a_resume_with_the_tensor_lr_ends_where_an_uninterrupted_run_ends(tiny_sample, tmp_path):
    """fp32 on a CPU: fused Adam with the lr a tensor that the schedule writes each step (warmup, then cosine)."""
    p = params(epochs=2, batch_size=32, precision="fp32", lr_schedule="cosine", warmup_epochs=1)
    whole, _ = engine.train(p, *tiny_sample, tmp_path / "whole.pt", tmp_path / "r1", log=lambda *_: None)
    assert torch.is_tensor(engine.setup(p, *tiny_sample, log=lambda *_: None).optimizer.param_groups[0]["lr"])

    with pytest.raises(Stop):
        engine.train(p, *tiny_sample, tmp_path / "m.pt", tmp_path / "r2", log=lambda *_: None, on_epoch=stop_at(1))
    logged = []
    resumed, history = engine.train(p, *tiny_sample, tmp_path / "m.pt", tmp_path / "r2", log=logged.append)
    assert any("resumed from" in line for line in logged) and [e.epoch for e in history.epochs] == [1, 2]
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


class HostSyncs(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts the operations that make the host wait for the device: a tensor read as a Python number (.item(),
    .tolist(), a bool of a tensor), nonzero (its size is data-dependent), a copy to the CPU."""

    SYNCS = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.item.default"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        to_cpu = (
            str(func) == "aten._to_copy.default"
            and str((kwargs or {}).get("device")) == "cpu"
            and any(getattr(a, "device", None) is not None and a.device.type != "cpu" for a in args)
        )
        self.count += str(func) in self.SYNCS or to_cpu
        return out


def test_no_step_waits_for_the_device_not_even_a_logging_one(tiny_sample):
    """The host syncs of an epoch do not grow with its steps: none in a step, logging every step or never (a logging
    step's values reach the host by a copy read at the next one: engine.LoggedStep), a fixed few as the epoch ends
    (its loss, accuracy and divergence check). fp32: fused Adam, as on a GPU (foreach Adam, bf16 on a CPU, reads each
    parameter's step count on the host, where a CPU keeps it)."""
    for interval in (1000, 1):
        counts, logged = {}, {}
        for batch in (48, 16):  # 2 and 6 steps an epoch
            p = params(epochs=1, batch_size=batch, display_interval=interval, precision="fp32")
            trainer = engine.setup(p, *tiny_sample, log=lambda *_: None)
            net = engine.wrap(trainer, p)
            history = TrainLog()
            with HostSyncs() as syncs:
                engine.train_one_epoch(trainer, net, p, 0, 0, history)
            counts[batch], logged[batch] = syncs.count, [r["step"] for r in history.running_loss]
        assert counts[48] == counts[16] <= 4, (interval, counts)
        assert logged == ({48: [], 16: []} if interval > 1 else {48: [1, 2], 16: [1, 2, 3, 4, 5, 6]}), logged


def test_the_model_compiles_whole_one_graph_per_batch_shape_and_trains_as_eager(tiny_sample):
    """torch.compile on the CPU (the aot_eager backend: the graphs torch.compile captures, run without code
    generation, which takes minutes here; CUDA graphs need a GPU): MyNet traces without a graph break, one graph per
    batch shape (96 images in steps of 40: 40, 40, 16), and 3 steps leave the parameters and BatchNorm buffers of
    an eager run within 1e-4 (fp32)."""
    from torch._dynamo.utils import counters

    p = params(epochs=1, batch_size=40, precision="fp32", display_interval=1000)
    states = []
    for compiled in (False, True):
        torch._dynamo.reset()
        counters.clear()
        trainer = engine.setup(p, *tiny_sample, log=lambda *_: None)
        net = torch.compile(trainer.model, backend="aot_eager", dynamic=False) if compiled else trainer.model
        engine.train_one_epoch(trainer, net, p, 0, 0, TrainLog())
        states.append(trainer.model.state_dict())
    assert counters["stats"]["unique_graphs"] == 2 and not counters["graph_break"]  # a graph a shape, no break
    for name, eager in states[0].items():
        assert torch.allclose(states[1][name].float(), eager.float(), atol=1e-4, rtol=1e-4), name

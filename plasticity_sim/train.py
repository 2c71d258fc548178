"""Training engine: optimizers (SGD, AdamW, SAM), `train_until` a train-accuracy target, evaluation.

The loop keeps the data as tensors on the training device and draws each epoch's order as one index
permutation from an explicit generator: no DataLoader, no per-sample Python, and on CUDA no host-device
sync inside an epoch (accuracy, losses and the non-finite check are reduced once per epoch).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from plasticity_sim import registry
from plasticity_sim.checks import check_positive_int
from plasticity_sim.devices import resolve_device  # noqa: F401  (the protocols import it from here)
from plasticity_sim.registry import OPTIMIZER_NAMES
# Data sets up to this size are shuffled with one gather per epoch (MNIST-1D: 1.3 MB; CIFAR-10 on the
# GPU: 600 MB, gathered per batch instead, so the training set is never held twice).
WHOLE_EPOCH_GATHER_BYTES = 256 * 2**20


# ----------------------------------------------------------------------------- optimizers
class SAM(torch.optim.SGD):
    """Sharpness-Aware Minimization (Foret et al., ICLR 2021), two-step, non-adaptive, around SGD.

    `step(closure)`: the gradients at w must already be in `.grad`; SAM moves to w + rho g/||g||,
    zeroes the gradients, calls `closure()` (forward + backward at the perturbed point), restores w
    exactly and takes the SGD(+momentum, weight decay) step with the perturbed gradient.
    Source: official DASH code `utils/SAM.py` (davda54's implementation, adaptive=False, rho 0.1).
    Subclassing SGD keeps the momentum buffers in `state_dict()`, so checkpoints resume exactly.
    """

    requires_closure = True

    def __init__(self, params, *, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, rho: float = 0.1,
                 fused: bool | None = None):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused)
        self.defaults["rho"] = rho
        for group in self.param_groups:
            group.setdefault("rho", rho)

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and calls backward()")
        with_grad = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not with_grad:
            return None
        grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in with_grad]))
        saved = []
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                saved.append((p, p.detach().clone()))
                p.add_(p.grad * scale.to(p.dtype))  # climb to the local maximum w + e(w)
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        for p, old in saved:
            p.copy_(old)  # back to w exactly (official code: p.data = old_p)
        super().step()
        return loss


def make_optimizer(name: str, params, *, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                   rho: float = 0.1) -> torch.optim.Optimizer:
    """Optimizer by name: "sgd" (with momentum), "adamw" (betas 0.9/0.999; `momentum` unused),
    "sam" (Foret et al. two-step around SGD with momentum; rho default 0.1 as in the official DASH code).

    The DASH paper's standard setting is SGD lr 1e-3, momentum 0.9, no weight decay; its SAM rows wrap
    the same SGD. AdamW's weight decay here defaults to 0 (torch's own default is 0.01). Fused
    kernels are used when every parameter is a float tensor on CPU or CUDA.
    """
    if name not in OPTIMIZER_NAMES:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZER_NAMES)}")
    for key, value, ok, allowed in (("lr", lr, lambda v: v > 0, "> 0"),
                                    ("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)"),
                                    ("weight_decay", weight_decay, lambda v: v >= 0, ">= 0"),
                                    ("rho", rho, lambda v: v >= 0, ">= 0")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
            raise ValueError(f"{key}={value!r} must be a finite number {allowed}")
    params = list(params)
    if not params:
        raise ValueError("make_optimizer got an empty parameter list")
    tensors = [t for item in params for t in (item["params"] if isinstance(item, dict) else [item])]
    # Fused kernels: one C++ loop over all tensors instead of Python per tensor. Same update rule,
    # deterministic; measured 1.3-1.6x faster whole AdamW training steps for the small CPU models.
    fused = all(t.device.type in ("cpu", "cuda") and t.is_floating_point() for t in tensors)
    kwargs = {"lr": lr, "weight_decay": weight_decay}
    if name != "adamw":
        kwargs["momentum"] = momentum
    cls = registry.load(registry.OPTIMIZERS, name)
    if name == "sam":
        kwargs["rho"] = rho
    try:
        return cls(params, fused=fused, **kwargs)
    except (RuntimeError, TypeError):  # older torch without fused kernels for this device
        return cls(params, **kwargs)


# ----------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What `train_until` did: optimizer steps, epochs, seconds, last epoch's running train accuracy,
    and one dict per epoch (epoch, train_acc, train_loss = mean cross-entropy, steps, wall_time)."""

    steps: int
    epochs: int
    wall_time: float
    final_train_acc: float
    history: list[dict] = field(default_factory=list)
    reached_target: bool = False


def _check_data(model, x, y, name="x") -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError("x and y must be torch tensors")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    if y.dim() != 1 or y.dtype != torch.int64:
        raise ValueError(f"y must be a 1-D int64 tensor of labels, got shape {tuple(y.shape)} dtype {y.dtype}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty with equal length, got {len(x)} and {len(y)}")
    p = next(model.parameters(), None)
    if y.device != x.device or (p is not None and p.device != x.device):
        raise ValueError(f"model ({None if p is None else p.device}), x ({x.device}) and y ({y.device}) "
                         "must be on the same device; move them with .to(device)")


def _autocast(device: torch.device, enabled: bool):
    """bf16 autocast (no loss scaling needed: bf16 has fp32's exponent range)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _as_channels_last(xb: torch.Tensor, enabled: bool) -> torch.Tensor:
    # Convolutions follow the input's memory format, so converting the batch is enough for NHWC kernels
    # (the weights stay in standard layout, which other code may .view()).
    return xb.contiguous(memory_format=torch.channels_last) if enabled and xb.dim() == 4 else xb


def train_until(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, optimizer: torch.optim.Optimizer,
                target_train_acc: float = 0.999, max_epochs: int = 100, batch_size: int = 128,
                generator: torch.Generator, regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
                step_hooks: Iterable[Callable] = (), augment: Callable | None = None, progress: bool = False,
                desc: str = "", context: str = "", amp: bool | None = None, channels_last: bool | None = None,
                compile: bool = False, first_epoch: int = 1) -> TrainResult:
    """Train on shuffled mini-batches until an epoch's running train accuracy >= target, or max_epochs.

    The DASH protocol: accuracy is measured on the fly in train mode (each batch's predictions before
    its update), the last partial batch is kept (ceil(N / batch_size) steps per epoch, e.g. 391 for
    50,000 images at 128). Each epoch's order is `randperm(N, generator)`, drawn on the generator's
    device. `regularizer(model)` is added to the loss; `step_hooks` run as hook(model, optimizer, step)
    after every optimizer step (step counts from 1 in this call); `augment(x_batch, generator)` returns
    the augmented batch. SAM-type optimizers (`requires_closure`) get a closure for their second pass.
    On CUDA (amp/channels_last None = auto): bf16 autocast and channels_last batches; `compile=True`
    wraps the model in torch.compile on CUDA only (ignored elsewhere). A non-finite loss raises
    FloatingPointError naming `context`, the epoch and the step (checked every step on CPU, and once
    per epoch on other devices, reporting the first bad step).
    """
    _check_data(model, x, y)
    if isinstance(target_train_acc, bool) or not isinstance(target_train_acc, (int, float)) \
            or not 0.0 < target_train_acc <= 1.0:
        raise ValueError(f"target_train_acc={target_train_acc!r} must be in (0, 1]")
    check_positive_int("max_epochs", max_epochs)
    check_positive_int("batch_size", batch_size)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    step_hooks = tuple(step_hooks)
    for f in (regularizer, augment, *step_hooks):
        if f is not None and not callable(f):
            raise ValueError(f"regularizer, augment and step_hooks must be callables, got {f!r}")

    device = x.device
    on_cpu = device.type == "cpu"
    amp = (device.type == "cuda") if amp is None else amp
    channels_last = (device.type == "cuda") if channels_last is None else channels_last
    fwd = torch.compile(model) if compile and device.type == "cuda" else model
    needs_closure = getattr(optimizer, "requires_closure", False)
    where = context or "train_until"
    # Callers that train one epoch per call (a fixed epoch count) say which epoch this is, so a
    # divergence names the real epoch once ("phase 2: epoch 7, ..."), not "epoch 7: epoch 1".
    shown = first_epoch - 1
    n = len(x)
    steps_per_epoch = math.ceil(n / batch_size)
    whole_epoch_gather = x.numel() * x.element_size() <= WHOLE_EPOCH_GATHER_BYTES
    sizes = torch.full((steps_per_epoch,), float(batch_size), device=device)
    sizes[-1] = n - batch_size * (steps_per_epoch - 1)

    def objective(xb, yb):
        with _autocast(device, amp):
            logits = fwd(xb)
            ce = F.cross_entropy(logits.float(), yb)
        loss = ce + regularizer(model) if regularizer is not None else ce
        return logits, ce, loss

    model.train()
    history: list[dict] = []
    step, acc, reached = 0, 0.0, False
    t0 = time.perf_counter()
    bar = tqdm(total=max_epochs, desc=desc or None, disable=not progress, leave=False)
    try:
        for epoch in range(1, max_epochs + 1):
            perm = torch.randperm(n, generator=generator, device=generator.device).to(device, non_blocking=True)
            ys = y.index_select(0, perm)
            # A small data set is shuffled once per epoch and sliced (one gather instead of one per step);
            # a large one is gathered batch by batch so it is never held twice. Same batches either way.
            xs = x.index_select(0, perm) if whole_epoch_gather else None
            preds = torch.empty(n, dtype=torch.int64, device=device)  # predictions in perm order
            ce_steps = torch.empty(steps_per_epoch, device=device)
            obj_steps = ce_steps if regularizer is None else torch.empty(steps_per_epoch, device=device)
            for k in range(steps_per_epoch):
                lo, hi = k * batch_size, (k + 1) * batch_size
                xb = xs[lo:hi] if xs is not None else x.index_select(0, perm[lo:hi])
                yb = ys[lo:hi]
                if augment is not None:
                    xb = augment(xb, generator)
                xb = _as_channels_last(xb, channels_last)
                logits, ce, loss = objective(xb, yb)
                if on_cpu and not math.isfinite(loss.item()):  # cheap on CPU: no device to wait for
                    _raise_nonfinite(where, epoch + shown, step + 1, k, steps_per_epoch, loss.item())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if needs_closure:
                    def closure(xb=xb, yb=yb):
                        second = objective(xb, yb)[2]
                        second.backward()
                        return second
                    optimizer.step(closure)
                else:
                    optimizer.step()
                step += 1
                # Bookkeeping stays on the device (no sync): predictions and losses are reduced per epoch.
                torch.argmax(logits.detach(), dim=1, out=preds[lo:hi])
                ce_steps[k] = ce.detach()
                if obj_steps is not ce_steps:
                    obj_steps[k] = loss.detach()
                for hook in step_hooks:
                    hook(model, optimizer, step)
            if not on_cpu:  # one sync per epoch: locate the first non-finite step, if any
                _check_epoch_losses(obj_steps, where, epoch + shown, step)
            correct = (preds == ys).sum()
            acc = int(correct) / n
            history.append({"epoch": epoch, "train_acc": acc, "train_loss": float((ce_steps * sizes).sum()) / n,
                            "steps": step, "wall_time": time.perf_counter() - t0})
            bar.update(1)
            bar.set_postfix(acc=f"{acc:.4f}")
            if acc >= target_train_acc:
                reached = True
                break
    finally:
        bar.close()
    return TrainResult(steps=step, epochs=len(history), wall_time=time.perf_counter() - t0,
                       final_train_acc=acc, history=history, reached_target=reached)


def _check_epoch_losses(losses: torch.Tensor, where: str, epoch: int, last_step: int) -> None:
    """Raise for the first non-finite entry of an epoch's per-step losses (`last_step` ends the epoch)."""
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        k = int(bad[0])
        _raise_nonfinite(where, epoch, last_step - len(losses) + k + 1, k, len(losses), float(losses[k]))


def _raise_nonfinite(where, epoch, step, k, steps_per_epoch, value):
    raise FloatingPointError(f"non-finite loss ({value}) in {where}: epoch {epoch}, step {step} "
                             f"(batch {k + 1} of {steps_per_epoch} in the epoch)")


# ----------------------------------------------------------------------------- evaluation
@contextlib.contextmanager
def preserved_modes(model: nn.Module):
    """Restore every module's own train/eval flag on exit, even on error.

    ``model.train(was_training)`` would set all submodules to the top-level flag; this keeps
    mixed modes (e.g. a frozen BatchNorm in eval inside a training model) exactly as they were.
    Used wherever a measurement switches to eval mode (evaluation, gradients, activations).
    """
    flags = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> float:
    """Accuracy in [0, 1] in eval mode (BN running statistics, no dropout); the model's
    train/eval mode is restored afterwards. bf16 autocast and channels_last on CUDA.
    """
    _check_data(model, x, y)
    check_positive_int("batch_size", batch_size)
    cuda = x.device.type == "cuda"
    with preserved_modes(model):
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        for i in range(0, len(x), batch_size):
            with _autocast(x.device, cuda):
                logits = model(_as_channels_last(x[i:i + batch_size], cuda))
            correct += (logits.argmax(dim=1) == y[i:i + batch_size]).sum()
    return int(correct) / len(x)


def loss_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                   batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """Gradient of the mean cross-entropy over all of (x, y), per named trainable parameter (fp32).

    Runs in the model's current mode; batches (if `batch_size`) are summed so the result is the exact
    mean over all examples in eval mode (in train mode BatchNorm normalises per batch). Buffers such
    as BN running statistics are restored afterwards, and `.grad` fields are left untouched.
    """
    _check_data(model, x, y)
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters")
    params = [p for _, p in named]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    totals = [torch.zeros_like(p) for p in params]
    bs = batch_size or len(x)
    try:
        with torch.enable_grad():
            for i in range(0, len(x), bs):
                loss = F.cross_entropy(model(x[i:i + bs]), y[i:i + bs], reduction="sum")
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                for t, g in zip(totals, grads):
                    if g is not None:
                        t.add_(g)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    return {name: t / len(x) for (name, _), t in zip(named, totals)}

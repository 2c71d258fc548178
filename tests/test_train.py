"""train_until / optimizers / evaluation on tiny hand-checkable problems."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from plasticity_sim.models import build_model
from plasticity_sim.train import (SAM, TrainResult, evaluate, loss_and_grads, make_optimizer, resolve_device,
                                  train_until)


def blobs(n=200, seed=0):
    """Two well-separated Gaussian blobs (means -3 and +3 in every coordinate), shape (n, 1, 8)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 1, 8, generator=g) + (6.0 * y.float() - 3.0)[:, None, None]
    return x, y


def mlp(seed=0, **kw):
    return build_model("mlp", (1, 8), 2, seed=seed, width=16, **kw)


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("opt,lr", [("sgd", 0.05), ("adamw", 0.01), ("sam", 0.05)])
def test_reaches_target_on_separable_toy(opt, lr):
    x, y = blobs()
    model = mlp()
    res = train_until(model, x, y, optimizer=make_optimizer(opt, model.parameters(), lr=lr),
                      target_train_acc=1.0, max_epochs=30, batch_size=32, generator=gen())
    assert isinstance(res, TrainResult) and res.reached_target
    assert res.final_train_acc == 1.0 and res.epochs < 30
    assert res.steps == res.epochs * math.ceil(200 / 32)  # partial last batch kept: 7 steps per epoch
    assert [h["epoch"] for h in res.history] == list(range(1, res.epochs + 1))
    assert [h["steps"] for h in res.history] == [7 * e for e in range(1, res.epochs + 1)]
    assert evaluate(model, x, y) == 1.0


def test_max_epochs_respected_when_target_unreachable():
    x, _ = blobs(n=100)
    y = torch.tensor([0, 1, 1, 0] * 25)  # labels unrelated to the input: 100 % is out of reach
    model = mlp()
    res = train_until(model, x, y, optimizer=make_optimizer("sgd", model.parameters(), lr=1e-3),
                      target_train_acc=1.0, max_epochs=3, batch_size=32, generator=gen())
    assert res.epochs == 3 and len(res.history) == 3 and not res.reached_target
    assert res.steps == 3 * 4  # ceil(100 / 32) = 4


def test_running_accuracy_and_loss_are_epoch_averages():
    # With a negligible learning rate the weights stay put, so the epoch's running accuracy equals the
    # model's accuracy on all data and the size-weighted loss equals the full-data cross-entropy
    # (this checks that the partial last batch of 100 = 3 * 32 + 4 is weighted by its size).
    x, y = blobs(n=100)
    x = x * 0.05  # overlapping classes: accuracy strictly between 0 and 1
    model = mlp(seed=4)
    with torch.no_grad():
        expected_acc = (model(x).argmax(1) == y).float().mean().item()
        expected_loss = F.cross_entropy(model(x), y).item()
    assert 0 < expected_acc < 1
    res = train_until(model, x, y, optimizer=make_optimizer("sgd", model.parameters(), lr=1e-12, momentum=0.0),
                      target_train_acc=1.0, max_epochs=1, batch_size=32, generator=gen())
    assert res.history[0]["train_acc"] == pytest.approx(expected_acc, abs=1e-12)
    assert res.history[0]["train_loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_same_seed_same_numbers_and_other_seed_differs():
    x, y = blobs()

    def run(order_seed):
        model = mlp(seed=2, batchnorm=True)
        res = train_until(model, x, y, optimizer=make_optimizer("sam", model.parameters(), lr=0.02),
                          target_train_acc=1.0, max_epochs=3, batch_size=16, generator=gen(order_seed))
        hist = [{k: v for k, v in h.items() if k != "wall_time"} for h in res.history]
        return model.state_dict(), hist

    (a, ha), (b, hb), (c, _) = run(5), run(5), run(6)
    assert ha == hb
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    assert not torch.equal(a["head.weight"], c["head.weight"])  # a different batch order changes the weights


def test_non_finite_loss_names_context_epoch_and_step():
    x, y = blobs()
    model = mlp()
    with pytest.raises(FloatingPointError, match=r"experiment 3: epoch 1, step \d+"):
        train_until(model, x, y, optimizer=make_optimizer("sgd", model.parameters(), lr=1e10),
                    max_epochs=5, batch_size=32, generator=gen(), context="experiment 3")
    model = mlp()
    with pytest.raises(FloatingPointError, match="experiment 2: epoch 1, step 1 "):
        train_until(model, x, y, optimizer=make_optimizer("adamw", model.parameters(), lr=1e-3),
                    regularizer=lambda m: torch.tensor(float("nan")), generator=gen(), context="experiment 2")


@pytest.mark.parametrize("target", [0, 0.0, -0.1, 1.5, float("nan"), True])
def test_bad_target_raises_and_trains_nothing(target):
    x, y = blobs()
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="target_train_acc"):
        train_until(model, x, y, optimizer=make_optimizer("sgd", model.parameters(), lr=0.1),
                    target_train_acc=target, generator=gen())
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_bad_data_and_arguments():
    x, y = blobs()
    model = mlp()
    opt = make_optimizer("sgd", model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="int64"):
        train_until(model, x, y.float(), optimizer=opt, generator=gen())
    with pytest.raises(ValueError, match="equal length"):
        train_until(model, x, y[:-1], optimizer=opt, generator=gen())
    with pytest.raises(ValueError, match="max_epochs"):
        train_until(model, x, y, optimizer=opt, generator=gen(), max_epochs=0)
    with pytest.raises(ValueError, match="generator"):
        train_until(model, x, y, optimizer=opt, generator=0)


def test_hooks_regularizer_and_augment_are_called():
    x, y = blobs(n=64)
    model = mlp()
    seen_steps, reg_calls, aug_shapes = [], [], []

    def hook(m, o, step):
        assert m is model and o is opt
        seen_steps.append(step)

    def reg(m):
        reg_calls.append(1)
        return 0.0 * sum(p.sum() for p in m.parameters())

    def aug(xb, g):
        assert isinstance(g, torch.Generator)
        aug_shapes.append(tuple(xb.shape))
        return xb

    opt = make_optimizer("sam", model.parameters(), lr=0.01)
    res = train_until(model, x, y, optimizer=opt, target_train_acc=1.0, max_epochs=2, batch_size=16,
                      generator=gen(), regularizer=reg, step_hooks=[hook], augment=aug)
    assert seen_steps == list(range(1, res.steps + 1))
    assert len(reg_calls) == 2 * res.steps  # SAM evaluates the objective twice per step
    assert aug_shapes == [(16, 1, 8)] * res.steps


def test_sam_step_by_hand():
    # loss 0.5 w^2 at w = 2: g = 2, e = rho * g / |g| = rho, the update uses the gradient at w + rho.
    w = nn.Parameter(torch.tensor([2.0]))
    opt = make_optimizer("sam", [w], lr=0.1, momentum=0.0, rho=0.5)
    assert isinstance(opt, SAM)
    (0.5 * w ** 2).sum().backward()

    def closure():
        loss = (0.5 * w ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == pytest.approx(0.5 * 2.5 ** 2)
    assert w.item() == pytest.approx(2.0 - 0.1 * 2.5)
    with pytest.raises(ValueError, match="closure"):
        opt.step()


def test_sam_keeps_momentum_in_state_dict():
    w = nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = make_optimizer("sam", [w], lr=0.1, momentum=0.9)
    (w ** 2).sum().backward()
    opt.step(lambda: (w ** 2).sum().backward())
    state = opt.state_dict()
    assert "momentum_buffer" in state["state"][0] and state["param_groups"][0]["rho"] == 0.1


def test_make_optimizer_types_and_errors():
    params = list(mlp().parameters())
    assert type(make_optimizer("sgd", params, lr=0.1)) is torch.optim.SGD
    assert isinstance(make_optimizer("adamw", params, lr=0.1), torch.optim.AdamW)
    with pytest.raises(ValueError, match="allowed"):
        make_optimizer("adam", params, lr=0.1)
    for bad in ({"lr": 0.0}, {"lr": float("inf")}, {"lr": 0.1, "momentum": 1.0}, {"lr": 0.1, "rho": -1.0}):
        with pytest.raises(ValueError):
            make_optimizer("sam", params, **bad)
    with pytest.raises(ValueError, match="empty"):
        make_optimizer("sgd", [], lr=0.1)


def test_resolve_device():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="allowed"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_evaluate_counts_by_hand_and_restores_mode():
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2))  # predicts argmax of the input
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    y = torch.tensor([0, 1, 1, 1, 1])  # 3rd and 5th are wrong
    lin.train()
    assert evaluate(lin, x, y, batch_size=2) == pytest.approx(3 / 5)
    assert lin.training


def test_loss_and_grads_matches_softmax_formula():
    # For logits W x, the mean-CE gradient is (softmax(Wx) - onehot(y))^T x / n.
    g = gen(3)
    x, y = torch.randn(10, 3, generator=g), torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
    lin = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, 3, generator=g))
    p = torch.softmax(x @ lin.weight.detach().T, dim=1)
    expected = (p - F.one_hot(y, 3).float()).T @ x / 10
    for bs in (None, 3):
        grads = loss_and_grads(lin, x, y, batch_size=bs)
        assert list(grads) == ["weight"]
        assert torch.allclose(grads["weight"], expected, atol=1e-6)
    assert lin.weight.grad is None


def test_loss_and_grads_restores_batchnorm_statistics():
    model = mlp(batchnorm=True).train()
    x, y = blobs(n=32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = loss_and_grads(model, x, y)
    assert set(grads) == {n for n, _ in model.named_parameters()}
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_epoch_level_nonfinite_check_names_first_bad_step():
    # The CUDA path checks once per epoch; here epoch 2 ended at step 10 after 3 steps (8, 9, 10).
    from plasticity_sim.train import _check_epoch_losses
    _check_epoch_losses(torch.tensor([1.0, 2.0, 3.0]), "x", 2, 10)  # all finite: no error
    with pytest.raises(FloatingPointError, match=r"experiment 4: epoch 2, step 9 \(batch 2 of 3"):
        _check_epoch_losses(torch.tensor([1.0, float("nan"), float("inf")]), "experiment 4", 2, 10)


def test_bf16_autocast_and_channels_last_paths_run_on_cpu():
    # On CUDA these are the defaults; on CPU they are opt-in. The loop must give the same bookkeeping.
    g = gen(0)
    x, y = torch.randn(40, 3, 8, 8, generator=g), torch.arange(40) % 3
    model = build_model("cnn", (3, 8, 8), 3, seed=0, channels=4)
    res = train_until(model, x, y, optimizer=make_optimizer("sgd", model.parameters(), lr=0.01),
                      target_train_acc=1.0, max_epochs=2, batch_size=16, generator=gen(), amp=True,
                      channels_last=True, compile=True)  # compile is ignored off CUDA
    assert res.steps == 2 * 3 and all(math.isfinite(h["train_loss"]) for h in res.history)


def test_whole_epoch_gather_and_per_batch_gather_train_identically(monkeypatch):
    """Small data is shuffled with one gather per epoch, large data batch by batch: the same batches."""
    import plasticity_sim.train as train_module
    x, y = blobs(203)   # a partial last batch

    def run():
        model = mlp(seed=3)
        augment_seen = []

        def augment(xb, g):
            augment_seen.append(xb.clone())
            return xb + 0.01 * torch.randn(xb.shape, generator=g)
        res = train_until(model, x, y, optimizer=make_optimizer("adamw", model.parameters(), lr=0.01),
                          target_train_acc=1.0, max_epochs=2, batch_size=32, generator=gen(4), augment=augment)
        return model.state_dict(), [h["train_loss"] for h in res.history], augment_seen

    whole = run()
    monkeypatch.setattr(train_module, "WHOLE_EPOCH_GATHER_BYTES", 0)
    per_batch = run()
    assert whole[1] == per_batch[1]
    assert len(whole[2]) == len(per_batch[2]) == 14 and all(torch.equal(a, b) for a, b in zip(whole[2], per_batch[2]))
    assert all(torch.equal(v, per_batch[0][k]) for k, v in whole[0].items())

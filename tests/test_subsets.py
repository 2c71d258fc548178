"""Growing-subset cosine experiment (book/dash/04_cosine_generalisation.ipynb) and its helpers."""
import numpy as np
import pytest
import torch
from torch import nn

from plasticity_sim.data import load_dataset
from plasticity_sim.dash.figures import plot_cosine_histogram, plot_subset_cosines
from plasticity_sim.protocols.subsets import (SubsetCosineConfig, cosines_to_test_gradient, run_subset_cosines,
                                              seed_streams, validate_config)
from plasticity_sim.dash.studies import cosine_accuracy_correlation


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist1d", num_samples=250)  # 200 train / 50 test


class Softmax(nn.Module):
    """Linear softmax regression: its gradient has a closed form to check against."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4, bias=False)
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(self.hidden(x))


def test_cosines_match_hand_computed_gradient():
    g = torch.Generator().manual_seed(0)
    model = Softmax()
    with torch.no_grad():
        model.hidden.weight.copy_(torch.randn(4, 3, generator=g))
        model.head.weight.copy_(torch.randn(2, 4, generator=g))
    x = torch.randn(7, 3, generator=g)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    cos = cosines_to_test_gradient(model, x, y, include_head=True)
    # By hand (numpy): logits = x A^T B^T; dL/dlogits = (softmax - onehot) / n;
    # dL/dB = D^T H with H = x A^T; dL/dA = (D B)^T x.
    A, B, X = (t.detach().numpy().astype(float) for t in (model.hidden.weight, model.head.weight, x))
    H = X @ A.T
    z = H @ B.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    D = (p - np.eye(2)[y.numpy()]) / len(X)
    grads = {"hidden": (D @ B).T @ X, "head": D.T @ H}
    for name, W in (("hidden", A), ("head", B)):
        expected = (W * -grads[name]).sum(1) / (np.linalg.norm(W, axis=1) * np.linalg.norm(grads[name], axis=1))
        assert np.allclose(cos[name], expected, atol=1e-5), name
    assert "head" not in cosines_to_test_gradient(model, x, y)  # left out by default


def test_weights_along_the_descent_direction_have_cosine_one():
    # Set the hidden weights to -c * gradient: cos(w, -grad) at that same gradient is +1 per unit.
    g = torch.Generator().manual_seed(1)
    model = Softmax()
    with torch.no_grad():
        model.hidden.weight.copy_(torch.randn(4, 3, generator=g))
        model.head.weight.copy_(torch.randn(2, 4, generator=g))
    x = torch.randn(9, 3, generator=g)
    y = torch.randint(0, 2, (9,), generator=g)
    from plasticity_sim.diagnostics import unit_cosines
    from plasticity_sim.train import loss_and_grads

    grads = loss_and_grads(model, x, y)
    with torch.no_grad():
        model.hidden.weight.copy_(-3.0 * grads["hidden.weight"])
    assert np.allclose(unit_cosines(model, grads)["hidden"], 1.0, atol=1e-5)
    with torch.no_grad():
        model.hidden.weight.mul_(-1)
    assert np.allclose(unit_cosines(model, grads)["hidden"], -1.0, atol=1e-5)


def test_eval_mode_used_and_restored():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x))

    model = Net().train()
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1] * 4)
    stats = model.body[1].running_mean.clone()
    assert sorted(cosines_to_test_gradient(model, x, y)) == ["body.0"]  # head left out
    assert model.training and model.body[1].training
    assert torch.equal(model.body[1].running_mean, stats)  # eval mode: running statistics untouched


def test_run_records_and_nested_subsets(data):
    cfg = SubsetCosineConfig(dataset_kwargs={"num_samples": 250}, model_kwargs={"channels": 4},
                             sizes=(20, 60), seeds=(0, 1), max_epochs=2)
    res = run_subset_cosines(cfg, data=data)
    assert [(r["seed"], r["size"]) for r in res.records] == [(0, 20), (0, 60), (1, 20), (1, 60)]
    for r in res.records:
        # 3 conv layers x 4 channels, head excluded
        assert sorted(r["cosines"]) == ["features.0", "features.2", "features.4"]
        pooled = np.concatenate([np.asarray(v) for v in r["cosines"].values()])
        assert pooled.size == 12 and np.all(np.abs(pooled) <= 1 + 1e-9)
        assert r["median_cosine"] == pytest.approx(float(np.median(pooled)))
    assert res.pooled(20).size == 24
    corr = cosine_accuracy_correlation(res)
    assert corr["n_models"] == 4 and -1 <= corr["pearson"] <= 1
    fig = plot_cosine_histogram(res, 60)
    # one stacked histogram per layer (3 x 40 bins) and the title names the size and its accuracy
    assert len(fig.axes[0].patches) == 3 * 40
    acc = 100 * np.mean([r["test_acc"] for r in res.records if r["size"] == 60])
    assert fig.axes[0].get_title() == f"60 training points: test accuracy {acc:.1f} %"
    with pytest.raises(ValueError, match="size 30"):
        plot_cosine_histogram(res, 30)
    box = plot_subset_cosines(res)
    assert [t.get_text() for t in box.axes[0].get_xticklabels()] == ["20", "60"]


@pytest.mark.parametrize("kw,match", [
    ({"sizes": ()}, "sizes"), ({"sizes": (50, 20)}, "increasing"), ({"sizes": (0, 5)}, "sizes"),
    ({"seeds": ()}, "seeds"), ({"batch_size": 0}, "batch_size")])
def test_bad_config_raises(kw, match):
    with pytest.raises(ValueError, match=match):
        validate_config(SubsetCosineConfig(**kw))


def test_size_larger_than_data_raises():
    with pytest.raises(ValueError, match="exceeds"):
        validate_config(SubsetCosineConfig(sizes=(100, 500)), num_train=200)


def test_seed_streams():
    assert seed_streams(0) == seed_streams(0) and len(set(seed_streams(0).values())) == 3

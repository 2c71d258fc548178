"""Models: shapes, parameter counts, published init schemes, reproducible in-place re-initialisation."""
import copy
import math

import pytest
import torch
from torch import nn

from plasticity_sim.models import MODEL_NAMES, PatchCNN, SeededDropout, build_model

SMALL_VGG = {"classifier_width": 16}
CASES = [  # (name, input_shape, kwargs)
    ("mlp", (1, 40), {}),
    ("mlp", (3, 8, 8), {"depth": 4, "width": 32, "batchnorm": True}),
    ("cnn", (1, 40), {}),
    ("cnn", (3, 32, 32), {}),
    ("cnn", (1, 8, 8), {"channels": 8}),
    ("resnet18", (3, 32, 32), {}),
    ("vgg16_bn", (3, 32, 32), SMALL_VGG),
]


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def built():
    return {i: build_model(name, shape, 10, seed=0, **kw) for i, (name, shape, kw) in enumerate(CASES)}


@pytest.mark.parametrize("i", range(len(CASES)))
def test_forward_shape_and_post_activation_hooks(built, i):
    name, shape, _ = CASES[i]
    model = built[i]
    outs = []
    handles = [m.register_forward_hook(lambda m, inp, out: outs.append(out)) for m in model.hidden_layers()]
    model.train()
    logits = model(torch.linspace(-1, 1, 2 * math.prod(shape)).reshape(2, *shape))
    for h in handles:
        h.remove()
    assert logits.shape == (2, 10)
    assert len(outs) == len(model.hidden_layers()) and all((o >= 0).all() for o in outs)  # post-ReLU


def test_hidden_layer_counts_are_distinct_relus(built):
    expected = {0: 2, 1: 3, 2: 3, 3: 3, 4: 3, 5: 1 + 8 * 2, 6: 13 + 2}  # depth-1; 3 convs; stem+2/block; 13 convs+2 FC
    for i, count in expected.items():
        layers = built[i].hidden_layers()
        assert len(layers) == count
        assert len({id(m) for m in layers}) == count and all(isinstance(m, nn.ReLU) for m in layers)


def test_parameter_counts_by_hand(built):
    assert _n_params(built[0]) == (40 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    # Conv1d lengths 40 -> 19 -> 10 -> 5, so the head sees 32 * 5 features.
    assert _n_params(built[2]) == (1 * 32 * 5 + 32) + 2 * (32 * 32 * 3 + 32) + (32 * 5 * 10 + 10)
    # CIFAR ResNet-18 with 10 classes: the widely quoted 11,173,962.
    assert _n_params(built[5]) == 11_173_962
    # VGG-16-BN features (torchvision: 14,714,688 conv + 2 * 4224 BN) + a width-16 classifier.
    w = 16
    assert _n_params(built[6]) == 14_714_688 + 2 * 4224 + (25088 * w + w) + (w * w + w) + (w * 10 + 10)


def test_resnet18_matches_dash_variant(built):
    model = built[5]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    stem = convs[0]
    assert stem.kernel_size == (3, 3) and stem.stride == (1, 1)
    pool = model.stem[3]
    assert isinstance(pool, nn.MaxPool2d) and pool.kernel_size == 3 and pool.stride == 2
    assert model.head.in_features == 512
    w = model.layers[3][1].conv2.weight  # 512x512x3x3: Kaiming normal, fan_out = 512*9
    assert w.std().item() == pytest.approx(math.sqrt(2.0 / (512 * 9)), rel=0.02)
    assert w.mean().abs().item() < 1e-3


def test_vgg_init_and_classifier(built):
    model = built[6]
    linears = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    assert [l.in_features for l in linears] == [25088, 16, 16]
    assert linears[0].weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert all((l.bias == 0).all() for l in linears)
    conv = [m for m in model.features if isinstance(m, nn.Conv2d)][-1]
    assert (conv.bias == 0).all()
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / (512 * 9)), rel=0.02)
    assert sum(isinstance(m, SeededDropout) and m.p == 0.5 for m in model.head) == 2


def test_mlp_and_cnn_use_pytorch_default_init(built):
    for i in (0, 2):
        for m in built[i].modules():
            if isinstance(m, (nn.Linear, nn.Conv1d)):
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                assert m.weight.abs().max() <= bound and m.bias.abs().max() <= bound
    big = built[0].features[2].weight  # 256 x 256: U(-b, b) has std b / sqrt(3)
    assert big.std().item() == pytest.approx(1.0 / math.sqrt(256) / math.sqrt(3), rel=0.02)
    bns = [m for m in built[1].modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(bns) == 3 and all((b.weight == 1).all() and (b.bias == 0).all() for b in bns)


def test_same_seed_same_weights_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a = build_model("cnn", (1, 40), 10, seed=7)
    b = build_model("cnn", (1, 40), 10, generator=torch.Generator().manual_seed(7))
    c = build_model("cnn", (1, 40), 10, seed=8)
    vgg = build_model("vgg16_bn", (3, 32, 32), 10, seed=1, **SMALL_VGG).train()
    vgg(torch.zeros(2, 3, 32, 32))  # dropout in train mode must not use the global RNG either
    assert torch.equal(state, torch.random.get_rng_state())
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.head.weight, c.head.weight)


def _perturb_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.add_(3.0)
                m.running_var.add_(3.0)


@pytest.mark.parametrize("name,shape,kw", [("mlp", (1, 40), {"batchnorm": True}), ("cnn", (1, 40), {}),
                                           ("resnet18", (3, 32, 32), {})])
def test_reset_parameters_changes_everything_reproducibly(name, shape, kw):
    model = build_model(name, shape, 10, seed=3, **kw)
    _perturb_(model)
    before = copy.deepcopy(model.state_dict())
    twin = copy.deepcopy(model)
    model.reset_parameters(torch.Generator().manual_seed(3))
    twin.reset_parameters(torch.Generator().manual_seed(3))
    fresh = build_model(name, shape, 10, seed=3, **kw)
    for k, v in model.state_dict().items():
        assert torch.equal(v, twin.state_dict()[k]), k  # same generator -> same weights
        assert torch.equal(v, fresh.state_dict()[k]), k  # reset == a brand-new model of that seed
        if v.is_floating_point():
            assert not torch.equal(v, before[k]), k  # every parameter and BN statistic changed


@pytest.mark.parametrize("name,shape,kw", [("mlp", (1, 40), {}), ("resnet18", (3, 32, 32), {}),
                                           ("vgg16_bn", (3, 32, 32), SMALL_VGG)])
def test_reset_head_touches_only_head(name, shape, kw):
    model = build_model(name, shape, 10, seed=0, **kw)
    head_ids = {id(p) for p in model.head_parameters()}
    assert head_ids and head_ids < {id(p) for p in model.parameters()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.reset_head(torch.Generator().manual_seed(99))
    for n, p in model.named_parameters():
        if id(p) in head_ids:
            assert not torch.equal(p, before[n]), n
        else:
            assert torch.equal(p, before[n]), n


def test_reset_head_schemes_for_vgg():
    model = build_model("vgg16_bn", (3, 32, 32), 10, seed=0, **SMALL_VGG)
    first = model.head[0]
    model.reset_head(torch.Generator().manual_seed(1))  # official DASH `reset`: PyTorch default init
    bound = 1.0 / math.sqrt(25088)
    assert first.weight.abs().max() <= bound and first.bias.abs().max() <= bound
    assert first.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    model.reset_head(torch.Generator().manual_seed(1), scheme="model")  # the model's N(0, 0.01)
    assert first.weight.std().item() == pytest.approx(0.01, rel=0.02) and (first.bias == 0).all()
    with pytest.raises(ValueError, match="scheme"):
        model.reset_head(torch.Generator(), scheme="xavier")


def test_seeded_dropout_stream():
    d = SeededDropout(0.5)
    d.reseed(torch.Generator().manual_seed(0))
    x = torch.ones(400, 250)
    assert torch.equal(d.eval()(x), x)
    d.train()
    state = copy.deepcopy(d.state_dict())
    a, b = d(x), d(x)
    assert set(a.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert (a > 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert not torch.equal(a, b)
    assert ((a > 0) == (b > 0)).float().mean().item() == pytest.approx(0.5, abs=0.01)  # independent masks
    d.load_state_dict(state)  # restoring the buffers replays the same masks
    assert torch.equal(d(x), a)
    with pytest.raises(ValueError, match="p="):
        SeededDropout(1.0)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="allowed"):
        build_model("resnet50", (3, 32, 32), 10)
    with pytest.raises(ValueError, match="batchnorm"):  # lists the allowed options
        build_model("cnn", (1, 40), 10, batchnorm=True)
    with pytest.raises(ValueError, match="input_shape"):
        build_model("cnn", (1, 1, 8, 8), 10)
    with pytest.raises(ValueError, match="resnet18"):
        build_model("resnet18", (1, 40), 10)
    with pytest.raises(ValueError, match="H, W >= 32"):
        build_model("vgg16_bn", (1, 8, 8), 10, **SMALL_VGG)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("mlp", (1, 40), 1)
    with pytest.raises(ValueError, match="depth"):
        build_model("mlp", (1, 40), 10, depth=0)
    with pytest.raises(ValueError, match="either seed"):
        build_model("mlp", (1, 40), 10, seed=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="generator"):
        build_model("mlp", (1, 40), 10).reset_parameters(0)
    assert set(MODEL_NAMES) == {"mlp", "cnn", "resnet18", "vgg16_bn", "mlp_ln", "mlp_crelu", "vit_tiny"}


def test_patch_cnn_filters_see_one_patch_each():
    net = PatchCNN(1, 2, 3, 2, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    h = torch.relu(net.conv(x))
    # only the top-left slot is non-zero; its pre-activation is the filter's dot product with the patch
    expected = torch.relu(net.conv.weight.reshape(3, -1) @ x[0, 0, :2, :2].reshape(-1))
    assert torch.allclose(h[0, :, 0, 0], expected) and h[0, :, 1:, :].abs().sum() == 0
    with pytest.raises(ValueError, match="filters"):
        PatchCNN(1, 2, 0, 2, generator=torch.Generator())

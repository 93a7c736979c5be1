import math

import pytest
import torch
from scipy import stats

from inr import roundoff
from inr.model.networks import ACTIVATIONS, make_activation, make_model, member_state_dict
from test_derivatives import as_dtype

ACTS = ("sine", "elu", "gauss", "finer", "wire", "sinc", "hsiren")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def coords(*shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, 3, generator=g, dtype=dtype) * 2 - 1)


def test_activation_names():
    assert set(ACTS) | {"siren"} == set(ACTIVATIONS)
    assert make_model("siren", width=8, depth=1).activation == "sine"
    for name in ("wire", "sinc", "hsiren"):
        assert make_model(name, width=8, depth=1).activation == name
    with pytest.raises(ValueError) as err:
        make_model("relu", width=8, depth=1)
    message = str(err.value)
    assert "\n" not in message and message.startswith("unknown activation 'relu'")
    assert all(f"'{name}'" in message for name in ACTS)  # it lists every name


def test_every_activation_names_its_scale_and_itself_aliases_too():
    """scale_symbol and display_name for every name make_model accepts (hand-written), the same
    through inr.config (the report's way in), and one line for an unknown name."""
    import inr.config
    from inr.model.networks import display_name, scale_symbol
    symbols = {"sine": "w0", "siren": "w0", "finer": "w0", "gauss": "s", "elu": None,
               "wire": "w0", "sinc": "w0", "hsiren": "w0"}
    names = {"sine": "SIREN (sine)", "siren": "SIREN (sine)", "finer": "FINER",
             "gauss": "Gaussian", "elu": "ELU", "wire": "WIRE (real Gabor)", "sinc": "sinc",
             "hsiren": "H-SIREN"}
    assert set(symbols) == set(names) == set(ACTIVATIONS)
    for name in ACTIVATIONS:
        assert scale_symbol(name) == inr.config.scale_symbol(name) == symbols[name]
        assert display_name(name) == inr.config.display_name(name) == names[name]
        act = make_activation(name)
        assert (act.scale_symbol, act.display_name) == (symbols[name], names[name])
    for ask in (scale_symbol, display_name, inr.config.scale_symbol, inr.config.display_name):
        with pytest.raises(ValueError) as err:
            ask("relu")
        assert "\n" not in str(err.value) and "unknown activation 'relu'" in str(err.value)


def test_a_model_config_holds_each_activations_scale_in_its_own_field():
    from inr.config import ModelConfig
    fields = {"sine": "w0", "siren": "w0", "finer": "w0", "gauss": "gauss_scale", "elu": None,
              "wire": "w0", "sinc": "w0", "hsiren": "w0"}
    for name in ACTIVATIONS:
        assert ModelConfig.scale_field(name) == fields[name]
        config = ModelConfig(activation=name, w0=7.0, gauss_scale=3.0)
        assert config.scale == {"w0": 7.0, "gauss_scale": 3.0, None: None}[fields[name]]
        built = config.build([0]).act
        assert built.scale == (1.0 if fields[name] is None else config.scale)


@pytest.mark.parametrize("act", ACTS)
def test_shapes(act):
    x = coords(20)
    assert make_model(act, width=16, depth=2)(x).shape == (20, 1)
    assert make_model(act, width=16, depth=2, models=3)(x).shape == (3, 20, 1)
    assert make_model(act, width=16, depth=2, models=3)(coords(3, 20)).shape == (3, 20, 1)
    assert make_model(act, width=16, depth=2, out_features=2)(x).shape == (20, 2)
    assert make_model(act, width=16, depth=2)(coords(1, 20)).shape == (1, 20, 1)


def test_every_parameter_and_buffer_has_model_dim():
    model = make_model("sine", width=16, depth=2, models=4, out_features=2)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        assert t.shape[0] == 4, name
    assert [layer.weight.shape for layer in model.layers] == [(4, 16, 3), (4, 16, 16), (4, 16, 16), (4, 2, 16)]
    assert all(layer.bias.shape == (4, 1, layer.weight.shape[1]) for layer in model.layers)
    assert model.seeds.tolist() == [0, 1, 2, 3]


def _loss_grads(model, x):
    model.zero_grad()
    out = model(x)
    (out.sin() ** 2).sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shared", [True, False])
def test_ensemble_equals_separate_models(act, dtype, shared):
    """Parameters are bitwise equal. Outputs and gradients agree to rounding: the CPU BLAS
    picks different kernels for batch 1 and batch M (e.g. gemv for the 1-output last layer), so
    the last bits may differ. Both lie within inr.roundoff's bound of the single model in
    float64, whose `own` is the single model's own round-off in `dtype`."""
    seeds = [5, 11, 2]
    ens = make_model(act, width=32, depth=2, models=3, seed=seeds).to(dtype)
    x = coords(64, dtype=dtype) if shared else coords(3, 64, dtype=dtype)
    out, grads = _loss_grads(ens, x)
    for m, s in enumerate(seeds):
        single = make_model(act, width=32, depth=2, seed=s).to(dtype)
        for p, q in zip(ens.parameters(), single.parameters()):
            assert torch.equal(p[m:m + 1], q)
        x_m = x if shared else x[m]
        out_m, grads_m = _loss_grads(single, x_m)
        ref_out, ref_grads = _loss_grads(as_dtype(single, torch.float64), x_m.double())
        own = _own_roundoff(single, x_m, dtype)
        assert roundoff.within(out[m], ref_out, own[0], dtype)
        for g, g_m, ref, own_g in zip(grads, grads_m, ref_grads, own[1:]):
            assert g_m.abs().max() > 0
            assert roundoff.within(g[m:m + 1], ref, own_g, dtype)


def _own_roundoff(model, x, dtype) -> list[float]:
    """inr.roundoff's `own` of _loss_grads (output, then each gradient): its float32 error
    against float64 on the float32-rounded parameters and points, carried to `dtype`."""
    model32, x32 = as_dtype(model, torch.float32), x.float()
    low = _loss_grads(model32, x32)
    high = _loss_grads(as_dtype(model32, torch.float64), x32.double())
    pairs = [(low[0], high[0]), *zip(low[1], high[1])]
    return [roundoff.carried(roundoff.relative_error(a, b), dtype) for a, b in pairs]


def test_int_seed_gives_consecutive_seeds_and_member_slicing():
    ens = make_model("finer", width=16, depth=2, models=3, seed=7)
    x = coords(30)
    for m in range(3):
        single = make_model("finer", width=16, depth=2, seed=7 + m)
        member = ens.member(m)
        restored = make_model(models=1, **ens.config)
        restored.load_state_dict(member_state_dict(ens.state_dict(), m))
        for p, q, r in zip(member.parameters(), single.parameters(), restored.parameters()):
            assert torch.equal(p, q) and torch.equal(p, r)
        # batch 1 against batch 3 in float32: the same sums, by other BLAS kernels
        assert roundoff.within(restored(x), ens(x)[m], 0.0, torch.float32)
    assert not torch.equal(ens.layers[1].weight[0], ens.layers[1].weight[1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ACTS)
def test_float64_and_device(act, device):
    model = make_model(act, width=32, depth=2, models=2).to(device)
    x = coords(2, 50).to(device)
    out32 = model(x)
    out64 = model.double()(x.double())
    assert out64.dtype == torch.float64 and out64.device.type == device
    # inr.roundoff's rule on the same float32 parameters and points: `own` is the float32
    # forward's round-off on the CPU (on the CPU the candidate is that very computation)
    own = roundoff.relative_error(model.float().cpu()(x.cpu()), out64)
    assert roundoff.within(out32, out64, own, torch.float32)


def test_siren_init_bounds():
    w0, width = 30.0, 64
    model = make_model("sine", width=width, depth=2, w0=w0)
    first, *rest = model.layers
    assert first.weight.abs().max() <= 1 / 3
    assert first.weight.abs().max() > 0.9 / 3                  # uniform fills its range
    for layer in rest:
        bound = math.sqrt(6 / layer.weight.shape[2]) / w0
        assert bound * 0.9 < layer.weight.abs().max() <= bound
    for layer in model.layers:                                  # nn.Linear default bias
        bound = 1 / math.sqrt(layer.weight.shape[2])
        assert layer.bias.abs().max() <= bound


def test_other_init_bounds():
    elu = make_model("elu", width=64, depth=2)
    for k, layer in enumerate(elu.layers):
        gain = 1 if k == len(elu.layers) - 1 else math.sqrt(2)
        assert layer.weight.abs().max() <= gain * math.sqrt(3 / layer.weight.shape[2])
        assert torch.count_nonzero(layer.bias) == 0
    gauss = make_model("gauss", width=64, depth=2)
    for layer in gauss.layers:
        bound = 1 / math.sqrt(layer.weight.shape[2])
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    finer = make_model("finer", width=64, depth=2, first_bias_scale=5.0)
    assert 1 < finer.layers[0].bias.abs().max() <= 5.0


def test_newer_activations_init_as_their_reference_code():
    """WIRE: nn.Linear's default everywhere (modules/wire.py); sinc and H-SIREN: SIREN's."""
    wire = make_model("wire", width=64, depth=2, w0=20.0)
    for layer in wire.layers:
        bound = 1 / math.sqrt(layer.weight.shape[2])
        assert 0.9 * bound < layer.weight.abs().max() <= bound
        assert layer.bias.abs().max() <= bound
    for name in ("sinc", "hsiren"):
        model = make_model(name, width=64, depth=2, w0=30.0)
        first, *rest = model.layers
        assert 0.9 / 3 < first.weight.abs().max() <= 1 / 3
        for layer in rest:
            bound = math.sqrt(6 / layer.weight.shape[2]) / 30.0
            assert 0.9 * bound < layer.weight.abs().max() <= bound


def test_wire_sinc_and_h_siren_are_the_papers_functions():
    """Each activation's value and z-derivatives against the function written out here, with
    torch.func differentiating that function (not the activation's own code), in float64:
    WIRE cos(w0 z) exp(-(s0 z)^2); H-SIREN's first layer sin(w0 sinh(2 z)), its hidden layers
    sin(w0 z); sinc sin(w0 z) / (w0 z) against mpmath's derivatives at 30 digits (autograd of
    sin(u)/u, or torch.sinc's own derivative, cancels near 0). z spans 0, the sinc's series
    range and beyond it."""
    z = torch.cat([torch.linspace(-0.2, 0.2, 81, dtype=torch.float64),
                   torch.tensor([0.0, 1e-9, 1 / 30, -1 / 30, 1.0001 / 30], dtype=torch.float64)])
    written = {
        "wire": (make_activation("wire", w0=20.0, s0=10.0),
                 lambda z: torch.cos(20.0 * z) * torch.exp(-(10.0 * z) ** 2)),
        "hsiren-first": (make_activation("hsiren", w0=30.0).first_layer,
                         lambda z: torch.sin(30.0 * torch.sinh(2 * z))),
        "hsiren": (make_activation("hsiren", w0=30.0), lambda z: torch.sin(30.0 * z)),
    }
    for name, (act, sigma) in written.items():
        refs = [sigma]
        for _ in range(3):
            refs.append(torch.func.grad(refs[-1]))
        taylor = act.taylor(act.scale * z, 3)
        for k, ref in enumerate(refs):
            want = torch.func.vmap(ref)(z) if k else sigma(z)
            got = act.scale ** k * taylor[k]
            assert roundoff.within(got, want, 0.0, torch.float64), (name, k)
    import mpmath
    mpmath.mp.dps = 30
    sinc = make_activation("sinc", w0=30.0)
    taylor = sinc.taylor(30.0 * z, 3)
    for k in range(4):
        want = torch.tensor([float(30.0 ** k * mpmath.diff(mpmath.sinc, 30 * mpmath.mpf(float(v)), k))
                             for v in z], dtype=torch.float64)
        assert roundoff.within(30.0 ** k * taylor[k], want, 0.0, torch.float64), ("sinc", k)
    at_zero = sinc.taylor(torch.zeros(1, dtype=torch.float64), 3)
    assert [float(t) for t in at_zero] == [1.0, 0.0, -1 / 3, 0.0]  # exact at 0: the series


def test_h_siren_differs_from_siren_in_its_first_layer_only():
    """The same weights through H-SIREN and through a hand-written network: first layer
    sin(w0 sinh(2 (W x + b))), then sin(w0 (W h + b)), then linear."""
    model = make_model("hsiren", width=16, depth=2, w0=30.0, seed=4).double()
    x = coords(50, dtype=torch.float64)
    (w0_, b0), *hidden, (wl, bl) = [(l.weight[0], l.bias[0, 0]) for l in model.layers]
    h = torch.sin(30.0 * torch.sinh(2 * (x @ w0_.T + b0)))
    for w, b in hidden:
        h = torch.sin(30.0 * (h @ w.T + b))
    with torch.no_grad():
        assert torch.allclose(model(x)[:, 0], (h @ wl.T + bl)[:, 0], rtol=1e-12, atol=1e-12)


def test_siren_init_activation_statistics():
    """Sitzmann et al. 2020, Sec. 3.2: with uniform inputs, w0 W h is ~N(0, 1) and sin of it is
    arcsine-distributed on [-1, 1], stationary through depth. The reference bias init adds
    variance w0^2 / (3 fan_in) to the pre-activation w0 (W h + b)."""
    w0, width = 30.0, 256
    model = make_model("sine", width=width, depth=6, w0=w0, seed=0)
    h = coords(1, 4096, seed=1)
    arcsine = stats.arcsine(loc=-1, scale=2).cdf
    with torch.no_grad():
        for k, layer in enumerate(model.layers[:-1]):
            u = layer(h)                                            # w0 (W h + b)
            if k > 0:                                               # hidden layers 1..6
                wh = w0 * torch.bmm(h, layer.weight.transpose(1, 2))
                assert 0.9 < wh.std() < 1.1
                expected = math.sqrt(1 + w0 ** 2 / (3 * width))
                assert 0.85 < u.std() / expected < 1.15
                un = u.flatten()[::50].numpy()                        # KS on a 20k subsample
                assert stats.kstest(un / un.std(), "norm").statistic < 0.1
            h = torch.sin(u)
            assert stats.kstest(h.flatten()[::50].numpy(), arcsine).statistic < 0.1
            assert abs(h.mean()) < 0.1 and 0.4 < h.var() < 0.6


@pytest.mark.parametrize("act", ACTS)
def test_activation_derivatives_match_autograd(act):
    """Within inr.roundoff's float64 bound. z = 0 is left out: ELU's second and third
    derivatives jump there, and which side autograd takes differs between ATen's vector and
    scalar kernels."""
    a = make_activation(act)
    z = torch.linspace(-0.3, 0.3, 100, dtype=torch.float64)
    u = z * a.scale
    sigma = lambda z: a.fn(a.scale * z)  # noqa: E731  sigma(z) = f(scale z)
    d1 = torch.func.vmap(torch.func.grad(sigma))(z)
    d2 = torch.func.vmap(torch.func.grad(torch.func.grad(sigma)))(z)
    close = lambda got, ref: roundoff.within(got, ref, 0.0, torch.float64)  # noqa: E731
    assert close(a.scale * a.taylor(u, 1)[1], d1)
    assert close(a.scale ** 2 * a.taylor(u, 2)[2], d2)
    taylor = a.taylor(u, 3)
    d3 = torch.func.vmap(torch.func.grad(torch.func.grad(torch.func.grad(a.fn))))(u)
    assert close(taylor[3], d3)
    assert close(taylor[0], a.fn(u))


@pytest.mark.parametrize("kw, match", [
    (dict(width=0), "positive"), (dict(width=-3), "positive"), (dict(depth=0), "positive"),
    (dict(models=0), "positive"), (dict(width=2.5), "integer"), (dict(w0=0.0), "w0"),
    (dict(w0=-30.0), "w0"), (dict(activation="relu"), "unknown activation"),
    (dict(models=2, seed=[1, 2, 3]), "seeds"), (dict(activation="elu", w0=30.0), "unexpected"),
    (dict(activation="gauss", scale=0.0), "scale"), (dict(activation="wire", s0=0.0), "s0"),
    (dict(activation="sinc", w0=0.0), "w0"), (dict(activation="hsiren", s0=1.0), "unexpected"),
])
def test_bad_construction(kw, match):
    kw = {"activation": "sine", "width": 8, "depth": 1, **kw}
    with pytest.raises(ValueError, match=match):
        make_model(**kw)


@pytest.mark.parametrize("x, match", [
    (torch.zeros(10, 2), "shape"), (torch.zeros(10), "shape"), (torch.zeros(2, 2, 10, 3), "shape"),
    (torch.zeros(3, 10, 3), "models"), (torch.zeros(10, 3, dtype=torch.int64), "floating"),
    (torch.zeros(10, 3, dtype=torch.float64), "float32"),
])
def test_bad_coords(x, match):
    model = make_model("sine", width=8, depth=1, models=2)
    with pytest.raises(ValueError, match=match):
        model(x)

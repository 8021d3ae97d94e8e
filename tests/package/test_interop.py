"""course.interop copies weights to and from torch.nn recurrent layers exactly."""

import numpy as np
import pytest
import torch

from course.interop import kind_of, load_into_torch, params_from_torch_all, rnn_params_from_torch, torch_reference


@pytest.mark.parametrize("cls,gates", [(torch.nn.RNN, 1), (torch.nn.LSTM, 4), (torch.nn.GRU, 3)])
def test_layout_and_round_trip(cls, gates):
    torch.manual_seed(0)
    m = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    for l in range(2):
        for d in range(2):
            p = rnn_params_from_torch(m, l, d)
            sfx = f"_l{l}" + ("_reverse" if d else "")
            D = 3 if l == 0 else 10
            assert p[0].shape == (D, gates * 5) and p[1].shape == (5, gates * 5)
            assert all(a.dtype == np.float64 for a in p)
            np.testing.assert_array_equal(p[0], getattr(m, "weight_ih" + sfx).detach().numpy().T)
            b_ih, b_hh = (getattr(m, n + sfx).detach().numpy() for n in ("bias_ih", "bias_hh"))
            if cls is torch.nn.GRU:
                assert len(p) == 4
                np.testing.assert_array_equal(p[2], b_ih)
                np.testing.assert_array_equal(p[3], b_hh)
            else:
                assert len(p) == 3
                np.testing.assert_array_equal(p[2], b_ih + b_hh)
            # round trip through another module gives the same function
            new = tuple(a * 1.5 for a in p)
            load_into_torch(m, new, l, d)
            back = rnn_params_from_torch(m, l, d)
            for a, b in zip(new, back):
                np.testing.assert_allclose(a, b, rtol=1e-15)
            if cls is not torch.nn.GRU:
                assert not getattr(m, "bias_hh" + sfx).detach().any()  # b goes into bias_ih, zeros into bias_hh
    assert len(params_from_torch_all(m)) == 2 and len(params_from_torch_all(m)[0]) == 2


def test_copied_weights_give_the_same_outputs():
    """Loading one module's arrays into a fresh module reproduces its output (b = b_ih + b_hh is enough)."""
    torch.manual_seed(1)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    for cls in (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU):
        a = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
        b = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
        for l in range(2):
            for d in range(2):
                load_into_torch(b, rnn_params_from_torch(a, l, d), l, d)
        np.testing.assert_allclose(a(x)[0].detach().numpy(), b(x)[0].detach().numpy(), rtol=0, atol=1e-14)
        layers = [[rnn_params_from_torch(a, l, d) for d in range(2)] for l in range(2)]
        ref = torch_reference(kind_of(a), x.numpy(), layers)
        np.testing.assert_allclose(ref["h"], a(x)[0].detach().numpy(), rtol=0, atol=1e-14)


def test_torch_reference_gradients_match_autograd_and_handle_negative_strides():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3))
    Wx, Wh, b = rng.normal(size=(3, 16)), rng.normal(size=(4, 16)) / 2, rng.normal(size=16)
    h0, c0 = rng.normal(size=(1, 2, 4)), rng.normal(size=(1, 2, 4))
    dh, dc = rng.normal(size=(2, 5, 4)), rng.normal(size=(1, 2, 4))
    r = torch_reference("lstm", x[:, ::-1], [[(Wx, Wh, b)]], h0=h0, c0=c0, dh=dh, dc_n=dc)
    m = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    load_into_torch(m, (Wx, Wh, b))
    tx = torch.tensor(x[:, ::-1].copy(), requires_grad=True)
    th, tc = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    out, (_, c_n) = m(tx, (th, tc))
    ((out * torch.tensor(dh)).sum() + (c_n * torch.tensor(dc)).sum()).backward()
    np.testing.assert_allclose(r["h"], out.detach().numpy(), atol=1e-14)
    for key, t in [("dx", tx), ("dh0", th), ("dc0", tc)]:
        np.testing.assert_allclose(r[key], t.grad.numpy(), atol=1e-13)
    np.testing.assert_allclose(r["grads"][0][0][0], m.weight_ih_l0.grad.numpy().T, atol=1e-13)
    np.testing.assert_allclose(r["grads"][0][0][2], m.bias_hh_l0.grad.numpy(), atol=1e-13)


def test_errors():
    m = torch.nn.LSTM(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="input-major"):
        load_into_torch(m, (np.zeros((16, 3)), np.zeros((4, 16)), np.zeros(16)))
    with pytest.raises(ValueError, match="takes 3 arrays"):
        load_into_torch(m, (np.zeros((3, 16)), np.zeros((4, 16)), np.zeros(16), np.zeros(16)))
    with pytest.raises(ValueError, match="layer 1 out of range"):
        rnn_params_from_torch(m, layer=1)
    with pytest.raises(ValueError, match="direction"):
        rnn_params_from_torch(m, direction=1)
    with pytest.raises(TypeError):
        kind_of(torch.nn.Linear(2, 2))
    nb = torch.nn.GRU(2, 3, bias=False)
    Wx, Wh, bx, bh = rnn_params_from_torch(nb)
    assert Wx.shape == (2, 9) and not bx.any() and not bh.any()
    with pytest.raises(ValueError, match="bias=False"):
        load_into_torch(nb, (Wx, Wh, bx + 1, bh))
    cell = torch.nn.LSTMCell(2, 3)
    assert rnn_params_from_torch(cell)[0].shape == (2, 12)

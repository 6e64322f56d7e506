"""The LSTM autoencoder: a window of F features in, the same window reconstructed out.

An LSTM encoder reads the window, its last hidden state becomes a small code
(``latent``), and an LSTM decoder unrolls that code back over the window's
length. Reconstruction error is the anomaly score: windows unlike the
training windows reconstruct badly.

With ``reverse=True`` the decoder rebuilds the window from its last point
backwards (as in Srivastava et al., 2015): the point being scored is the
decoder's first step, so ``reconstruct_last`` costs one decoder step instead
of ``window`` of them. ``forward`` still returns the window in time order.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> ae = LSTMAutoencoder(n_features=3, window=8, hidden=16, latent=4, reverse=True)
>>> x = torch.randn(5, 8, 3)
>>> ae(x).shape
torch.Size([5, 8, 3])
>>> reconstruction_errors(ae, x).shape
torch.Size([5, 8, 3])
>>> with torch.inference_mode():
...     bool(torch.allclose(ae.reconstruct_last(x), ae(x)[:, -1], atol=1e-6))
True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class LSTMAutoencoder(nn.Module):
    """Sequence-to-sequence LSTM autoencoder over fixed-length windows."""

    def __init__(self, n_features: int, window: int, hidden: int = 32, latent: int = 8, reverse: bool | int = False) -> None:
        super().__init__()
        self.n_features = n_features
        self.window = window
        self.hidden = hidden
        self.latent = latent
        self.reverse = bool(reverse)
        self.encoder = nn.LSTM(n_features, hidden, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent)
        self.from_latent = nn.Linear(latent, hidden)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.output = nn.Linear(hidden, n_features)

    def architecture(self) -> dict[str, Any]:
        """The constructor arguments, enough to rebuild the module for a state dict."""
        return {"n_features": self.n_features, "window": self.window, "hidden": self.hidden, "latent": self.latent,
                "reverse": int(self.reverse)}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.encoder(x)
        return self.to_latent(h[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encode(x)
        steps = self.from_latent(code).unsqueeze(1).expand(-1, x.shape[1], -1)
        out, _ = self.decoder(steps)
        out = self.output(out)
        return out.flip(1) if self.reverse else out

    def reconstruct_last(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of each window's last point only, (B, F); one decoder step when reversed."""
        if not self.reverse:
            return self.forward(x)[:, -1]
        return self.output(self._first_decoder_step(self.from_latent(self.encode(x))))

    def _first_decoder_step(self, inp: torch.Tensor) -> torch.Tensor:
        """The decoder's first output from a zero state: the LSTM cell equations without the recurrent half."""
        d = self.decoder
        gates = nn.functional.linear(inp, d.weight_ih_l0, d.bias_ih_l0 + d.bias_hh_l0)
        i, _, g, o = gates.chunk(4, dim=1)
        return torch.sigmoid(o) * torch.tanh(torch.sigmoid(i) * torch.tanh(g))


def reconstruction_errors(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Squared error per window, step and feature, computed without gradients."""
    with torch.inference_mode():
        return (model(x).float() - x.float()) ** 2

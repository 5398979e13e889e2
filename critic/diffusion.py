"""Diffusion dream decoder: samples several occupancy futures for a plan (diffusers UNet + schedulers).

Each occupancy frame (2 x size x size, agents and non-drivable, scaled to [-1, 1]) is
denoised by a small ``UNet2DModel`` conditioned on the world model's latent at that time
(projected to extra input channels). Training uses a ``DDPMScheduler`` and the usual
noise-prediction loss; sampling uses a ``DDIMScheduler`` with few steps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import FeatureConfig, ModelConfig

COND_CHANNELS = 4
TRAIN_TIMESTEPS = 100


class DreamDecoder(nn.Module):
    def __init__(self, fc: FeatureConfig, mc: ModelConfig):
        super().__init__()
        from diffusers import UNet2DModel

        self.size = fc.occ_size
        self.occ_every = fc.occ_every
        self.cond = nn.Linear(mc.d_model, COND_CHANNELS * 8 * 8)
        self.unet = UNet2DModel(
            sample_size=fc.occ_size, in_channels=2 + COND_CHANNELS, out_channels=2,
            block_out_channels=tuple(mc.diffusion_channels), layers_per_block=1,
            down_block_types=("DownBlock2D",) * len(mc.diffusion_channels),
            up_block_types=("UpBlock2D",) * len(mc.diffusion_channels), norm_num_groups=8,
        )

    def _schedulers(self):
        from diffusers import DDIMScheduler, DDPMScheduler

        return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS), DDIMScheduler(num_train_timesteps=TRAIN_TIMESTEPS)

    def _cond_map(self, z: torch.Tensor) -> torch.Tensor:
        c = self.cond(z).view(-1, COND_CHANNELS, 8, 8)
        return F.interpolate(c, size=(self.size, self.size), mode="nearest")

    def frames_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """Latents at the occupancy frames ``[B, P, K, D]`` from all dynamics latents ``[B, P, S, D]``."""
        return latent[:, :, self.occ_every - 1:: self.occ_every]

    def loss(self, latent: torch.Tensor, occ: torch.Tensor) -> torch.Tensor:
        """Noise-prediction MSE for true occupancy ``occ`` ``[B, P, K, 2, s, s]`` in {0, 1}."""
        ddpm, _ = self._schedulers()
        z = self.frames_latent(latent).reshape(-1, latent.shape[-1])
        x0 = occ.reshape(-1, 2, self.size, self.size) * 2.0 - 1.0
        noise = torch.randn_like(x0)
        t = torch.randint(0, TRAIN_TIMESTEPS, (x0.shape[0],), device=x0.device)
        xt = ddpm.add_noise(x0, noise, t)
        pred = self.unet(torch.cat([xt, self._cond_map(z)], 1), t).sample
        return F.mse_loss(pred, noise)

    @torch.no_grad()
    def sample(self, latent: torch.Tensor, n: int, steps: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` dreamed futures per plan: ``[B, P, n, K, 2, s, s]`` occupancy probabilities in [0, 1]."""
        _, ddim = self._schedulers()
        ddim.set_timesteps(steps)
        zf = self.frames_latent(latent)                       # [B, P, K, D]
        B, P, K, D = zf.shape
        z = zf[:, :, None].expand(B, P, n, K, D).reshape(-1, D)
        cond = self._cond_map(z)
        x = torch.randn((z.shape[0], 2, self.size, self.size), generator=generator, device=z.device, dtype=z.dtype)
        for t in ddim.timesteps:
            eps = self.unet(torch.cat([x, cond], 1), t).sample
            x = ddim.step(eps, t, x).prev_sample
        return ((x.clamp(-1, 1) + 1) / 2).view(B, P, n, K, 2, self.size, self.size)

"""Building blocks shared by the autoencoders and the UNet."""

from ldm_teach.nn.attention import SelfAttention2d, attention
from ldm_teach.nn.embeddings import timestep_embedding
from ldm_teach.nn.norm import group_norm
from ldm_teach.nn.resnet import ResnetBlock
from ldm_teach.nn.sampling import Downsample, Upsample

__all__ = [
    "Downsample",
    "ResnetBlock",
    "SelfAttention2d",
    "Upsample",
    "attention",
    "group_norm",
    "timestep_embedding",
]

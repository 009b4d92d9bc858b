"""Building blocks shared by the autoencoders and the UNet."""

from ldm_teach.nn.attention import SelfAttention2d, attention, attention_implementation
from ldm_teach.nn.cross_attention import CrossAttention
from ldm_teach.nn.embeddings import timestep_embedding
from ldm_teach.nn.film import FiLM
from ldm_teach.nn.norm import group_norm
from ldm_teach.nn.resnet import ResnetBlock
from ldm_teach.nn.sampling import Downsample, Upsample
from ldm_teach.nn.trace import output_shapes
from ldm_teach.nn.transformer import BasicTransformerBlock, FeedForward, SpatialTransformer

__all__ = [
    "output_shapes",
    "BasicTransformerBlock",
    "CrossAttention",
    "Downsample",
    "FeedForward",
    "FiLM",
    "ResnetBlock",
    "SelfAttention2d",
    "SpatialTransformer",
    "Upsample",
    "attention",
    "attention_implementation",
    "group_norm",
    "timestep_embedding",
]

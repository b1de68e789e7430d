"""A decoder-only Transformer language model, written with torch primitives only.

Reads top to bottom: config, attention, MLP, block, model. The architecture is GPT-2's
(Radford et al. 2019): token embeddings plus positions, pre-LayerNorm residual blocks of
multi-head causal self-attention and a GELU MLP, a final LayerNorm, and an output layer that
shares its weights with the token embedding (Press & Wolf 2017). Positions are either learned
absolute embeddings (GPT-2) or rotary embeddings applied to queries and keys (Su et al. 2021,
RoFormer).

Attention runs through `torch.nn.functional.scaled_dot_product_attention`, which picks a fused
kernel where one exists. Generation keeps the keys and values of earlier positions in a
preallocated `KVCache`, so each new token costs one position of compute instead of the whole
sequence (see harness/scratch/generate.py).

Shape letters: B batch, T query positions, S key positions, C = n_embd, H = n_head,
D = head_dim = C / H, V = vocab_size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.scratch.config import settle_types, typed_settings

POSITIONS = ("learned", "rotary")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 4096  # BPE vocabulary, special tokens included (the tokenizer is trained to this size)
    block_size: int = 256  # longest sequence the model reads; learned positions have this many rows
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block; must divide n_embd
    n_embd: int = 128  # residual stream width C
    dropout: float = 0.0  # on attention weights, residual branches and embeddings; 0 for small data is fine
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2 has
    positions: str = "learned"  # "learned" (GPT-2 absolute embeddings) or "rotary" (RoPE)
    rope_base: float = 10000.0  # RoPE frequency base (only with positions: rotary)

    def __post_init__(self) -> None:
        settle_types(self, "model config")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if value < 1:
                raise HarnessError(f"model config: {name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise HarnessError(
                f"model config: n_embd {self.n_embd} is not divisible by n_head {self.n_head}; "
                f"choose n_head among the divisors of n_embd"
            )
        if self.positions not in POSITIONS:
            raise HarnessError(f"model config: positions {self.positions!r} is not one of {', '.join(POSITIONS)}")
        if self.positions == "rotary" and self.head_dim % 2:
            raise HarnessError(f"model config: rotary positions need an even head size, got {self.head_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise HarnessError(f"model config: dropout must be in [0, 1), got {self.dropout}")
        if self.rope_base <= 0:
            raise HarnessError(f"model config: rope_base must be positive, got {self.rope_base}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "model config") -> GPTConfig:
        """From YAML: unknown keys and wrong types named with `where`; '6e-4' reads as a number."""
        return cls(**typed_settings(cls, raw, where))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class KVCache:
    """Keys and values of the positions seen so far, for every layer, in preallocated tensors.

    `valid` marks which cached positions are real tokens (False for left padding of shorter
    prompts in a batch); `length` is how many positions are filled.
    """

    def __init__(self, config: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (batch, config.n_head, config.block_size, config.head_dim)  # (B, H, block_size, D)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.valid = torch.zeros(batch, config.block_size, dtype=torch.bool, device=device)  # (B, block_size)
        self.length = 0
        self.capacity = config.block_size

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (B, H, T, D) after the filled positions; return all keys and values so far."""
        end = self.length + k.size(2)
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]  # (B, H, S, D)


def rotary_tables(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position x frequency, (B, T, D/2), the rotation angles of RoPE."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim))
    angles = positions.float()[..., None] * inv_freq  # (B, T, D/2)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x[2i], x[2i+1]) of x (B, H, T, D) by its position's angle."""
    x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]  # (B, H, T, D/2)
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, D/2), broadcast over heads
    rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # (B, H, T, D/2, 2)
    return rotated.flatten(-2).type_as(x)  # (B, H, T, D)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, C)
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
        attn_mask: torch.Tensor | None,  # (B, 1, T, S) True where a query may attend, or None for plain causal
        cache: KVCache | None,
        layer: int,
        weights: list[torch.Tensor] | None = None,  # when given, this layer's attention weights (B, H, T, S) are appended
    ) -> torch.Tensor:
        B, T, C = x.shape
        H, D = self.config.n_head, self.config.head_dim
        qkv = self.c_attn(x).view(B, T, 3, H, D)  # (B, T, 3, H, D)
        # One permute of views, not a split and three transposes: fewer ops per decoded token.
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, D)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if cache is not None:
            k, v = cache.store(layer, k, v)  # (B, H, S, D), S = cached + T
        dropout = self.config.dropout if self.training else 0.0
        if weights is not None:
            y = self._attend_explicitly(q, k, v, attn_mask, weights)  # (B, H, T, D)
        elif attn_mask is None:
            # Without padding: causal over the T new positions; a single query attends to all keys.
            causal = T > 1 and k.size(2) == T
            if T > 1 and not causal:
                raise ValueError("several new positions after cached ones need an explicit attn_mask")
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)  # (B, H, T, D)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C), heads side by side again
        return F.dropout(self.c_proj(y), self.config.dropout, self.training)

    def _attend_explicitly(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, weights: list[torch.Tensor]
    ) -> torch.Tensor:
        """softmax(q k^T / sqrt(D)) v with the weights kept (what the fused kernel computes
        without materialising them), for explanations (harness.explain). No dropout: eval only."""
        T, S = q.size(2), k.size(2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (B, H, T, S)
        if attn_mask is None:
            # Causal over the new positions, which are the last T of the S keys.
            attn_mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)[None, None]  # (1, 1, T, S)
        att = scores.masked_fill(~attn_mask, float("-inf")).softmax(dim=-1)  # (B, H, T, S)
        weights.append(att)
        return att @ v  # (B, H, T, D)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        h = F.gelu(self.c_fc(x), approximate="tanh")  # (B, T, 4C); GPT-2's GELU approximation
        return F.dropout(self.c_proj(h), self.config.dropout, self.training)


class Block(nn.Module):
    """Pre-LayerNorm residual block (GPT-2): x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
        attn_mask: torch.Tensor | None,
        cache: KVCache | None,
        layer: int,
        weights: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        x = x + self.attn(self.ln_1(x), rotary, attn_mask, cache, layer, weights)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.positions == "learned" else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the output layer scores tokens with the embedding matrix itself.
        self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # GPT-2 scales the init of layers that write into the residual stream by 1/sqrt(2 n_layer),
        # since each block adds two of them and the stream's variance grows with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def n_parameters(self) -> int:
        """Parameters counted once (the tied output layer is the embedding)."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,  # (B, T) token ids
        positions: torch.Tensor | None = None,  # (B, T) position of each token; default 0..T-1
        attn_mask: torch.Tensor | None = None,  # (B, 1, T, S) bool, True = may attend; default causal
        cache: KVCache | None = None,  # filled with this call's keys and values when given
        last_only: bool = False,  # logits of the last position only, (B, 1, V): all that decoding needs
        embeds: torch.Tensor | None = None,  # (B, T, C) token embeddings to read instead of wte(idx) (attributions)
        attentions: list[torch.Tensor] | None = None,  # when given, each layer's attention weights (B, H, T, S) are appended
    ) -> torch.Tensor:  # (B, T, V) logits
        B, T = idx.shape if embeds is None else embeds.shape[:2]
        if positions is None:
            if T > self.config.block_size:
                raise ValueError(f"{T} tokens is more than block_size {self.config.block_size}")
            positions = torch.arange(T, device=self.wte.weight.device).expand(B, T)  # (B, T)
        x = self.wte(idx) if embeds is None else embeds  # (B, T, C)
        rotary = None
        if self.wpe is not None:
            x = x + self.wpe(positions)  # (B, T, C)
        else:
            rotary = rotary_tables(positions, self.config.head_dim, self.config.rope_base)  # 2 x (B, T, D/2)
        x = F.dropout(x, self.config.dropout, self.training)
        for layer, block in enumerate(self.blocks):
            x = block(x, rotary, attn_mask, cache, layer, attentions)
        if cache is not None:
            cache.length += T
        if last_only:
            x = x[:, -1:]  # (B, 1, C); the output layer is the largest matmul of a long read
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 N for the matmuls with the weights, plus 12 L C T for the
        attention scores and weighted sums (Kaplan et al. 2020; PaLM appendix B). Embedding
        lookups are not matmuls and are left out; the tied output layer is counted."""
        c = self.config
        n = self.n_parameters() - (self.wpe.weight.numel() if self.wpe is not None else 0)
        return 6.0 * n + 12.0 * c.n_layer * c.n_embd * seq_len

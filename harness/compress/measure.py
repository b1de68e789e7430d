"""Weight bytes of a model, however its weights are stored.

A plain parameter counts numel x element size; a torchao tensor subclass counts the tensors it
is made of (int8 values, scales, zero points); a dynamically quantised linear layer
(torch.ao.quantization) counts its int8 weight with its per-channel scales and zero points, and
its bias. A weight shared by two modules (a tied output head) counts once. Buffers (rotary
frequencies, masks) are not weights and are not counted.
"""

from __future__ import annotations

from typing import Any


def tensor_bytes(t: Any) -> int:
    """Bytes a tensor's storage holds: the inner tensors of a torchao subclass, the int8 values
    and the per-channel (or per-tensor) parameters of a torch quantized tensor."""
    import torch

    if hasattr(t, "__tensor_flatten__") and type(t) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, name)) for name in names)
    if t.is_quantized:
        total = t.numel() * t.element_size()
        if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales, zeros = t.q_per_channel_scales(), t.q_per_channel_zero_points()
            total += scales.numel() * scales.element_size() + zeros.numel() * zeros.element_size()
        else:
            total += 8 + 8  # one float64 scale and one int64 zero point
        return total
    return t.numel() * t.element_size()


def weight_bytes(model: Any) -> int:
    """Bytes of every weight of `model`, shared weights counted once."""
    import torch

    dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
    seen: set[int] = set()
    total = 0
    for module in model.modules():
        if isinstance(module, dynamic_linear):
            weight, bias = module._weight_bias()
            total += tensor_bytes(weight) + (tensor_bytes(bias) if bias is not None else 0)
            continue
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                total += tensor_bytes(param)
    return total


def packed_int4_bytes(model: Any) -> int:
    """Weight bytes with int4 values packed two to a byte: torchao's CPU int4 keeps each value
    in an int8 (IntxUnpackedToInt8Tensor), so the packed size is computed exactly from it —
    ceil(values / 2) bytes plus the scales and zero points as stored."""
    import torch

    seen: set[int] = set()
    total = 0
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if getattr(param, "target_dtype", None) == torch.int4:
                rest = tensor_bytes(param.scale) + tensor_bytes(param.zero_point)
                total += -(-param.qdata.numel() // 2) + rest
            else:
                total += tensor_bytes(param)
    return total

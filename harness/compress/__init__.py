"""Compression of a loaded torch model (`harness run --compress SPEC`) and the compression audit
(`harness audit`): does quantising or pruning a model change its bias, toxicity and truthfulness?

spec.py       SPEC strings (`int8`, `int4:g128`, `int8-dynamic`, `prune:0.3`, `prune-layer:0.3`)
transforms.py the transforms themselves (torchao, torch.ao.quantization, torch.nn.utils.prune)
measure.py    weight bytes of a model however its weights are stored
adapter.py    what a torch adapter holds for --compress: fingerprint part, hook, record, speed
audit.py      base and variants through the runner, then paired differences per metric
audit_report.py  audit.json and the self-contained audit.html

Nothing here imports torch at import time.
"""

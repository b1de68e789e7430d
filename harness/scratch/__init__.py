"""A GPT-style language model trained from scratch: the harness's own laboratory.

    model.py       the decoder-only Transformer (config, attention, MLP, blocks, KV cache)
    generate.py    autoregressive decoding: KV cache, batched prompts, seeded sampling
    tokenizer.py   byte-level BPE trained with `tokenizers`
    corpus.py      training text (the user's files, or the standard library's documentation)
    data.py        token streams, train/validation split, batches keyed by (seed, step)
    trainer.py     AdamW, warm-up + cosine, clipping, accumulation, validation, exact resume
    distributed.py torchrun / DDP on the same code path as one process
    checkpoint.py  safetensors + JSON checkpoint folders, written atomically
    report.py      the HTML training report with loss curves

`harness train` (harness/commands/train.py) drives it; the `scratch` adapter
(harness/models/scratch.py) evaluates its checkpoints like any other model.
"""

"""A tiny Detoxify checkpoint built on the spot (no download): real Detoxify code paths, seconds to build."""

from __future__ import annotations

import json
from pathlib import Path

ORIGINAL_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = "you are a an the idiot stupid kind friend nice lovely day good bad fool moron thanks for help".split()


def build_tiny_detoxify(folder: Path, seed: int = 0, hidden: int = 16, layers: int = 1, heads: int = 2) -> Path:
    """A Detoxify-format checkpoint of a tiny BertForSequenceClassification with a WordPiece vocab
    trained with `tokenizers`, plus its Hugging Face config/tokenizer folder and a classifier.json.
    Returns the classifier folder."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    hf = folder / "tiny-bert"
    hf.mkdir(exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator([" ".join(WORDS)] * 20 + WORDS, trainer)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    (hf / "vocab.txt").write_text("\n".join(t for t, _ in vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(hf / "vocab.txt"), do_lower_case=True, model_max_length=128).save_pretrained(hf)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * hidden, max_position_embeddings=128, num_labels=len(ORIGINAL_CLASSES),
                        initializer_range=0.5)
    model = BertForSequenceClassification(config).eval()
    config.save_pretrained(hf)
    checkpoint = {
        "config": {
            "arch": {"args": {"model_type": "bert-base-uncased", "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer", "num_classes": len(ORIGINAL_CLASSES)}},
            "dataset": {"args": {"classes": ORIGINAL_CLASSES}},
        },
        "state_dict": model.state_dict(),
    }
    torch.save(checkpoint, folder / "tiny.ckpt")
    (folder / "classifier.json").write_text(json.dumps(
        {"backend": "detoxify", "variant": "original", "checkpoint": "tiny.ckpt", "huggingface_config": "tiny-bert"}))
    return folder

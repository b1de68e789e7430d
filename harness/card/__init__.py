"""`harness card`: a Hugging Face model card (MODEL_CARD.md) from one run folder.

`content` (the run read into frozen dataclasses, and the `model-index`), `limits` (the
"Bias, risks and limitations" text), `markdown` (escaping untrusted text), `render` (jinja2 and
the YAML front matter), `template` (the Markdown layout).
"""

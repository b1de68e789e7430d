"""Toxicity classifiers (pluggable backends), obfuscations, filter metrics and the guard wrapper.

`harness.toxicity.registry.load_classifier(spec)` turns a name (`profanity-check`,
`detoxify-unbiased`, ...) or a folder written by `harness train-filter` into a `Classifier`.
"""

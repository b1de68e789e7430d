"""A fake LanguageModel with fixed outputs, for checking the suites' arithmetic by hand."""

from __future__ import annotations

from collections.abc import Callable

from harness.api import Generation, GenerationRequest, Loglikelihood, LoglikelihoodRequest, ModelInfo, RollingLoglikelihood


class FakeLM:
    def __init__(
        self,
        answer: Callable[[GenerationRequest], str] = lambda r: "",
        loglikelihoods: dict[str, float] | None = None,
        chat: bool = False,
    ) -> None:
        self.answer = answer
        self.loglikelihoods = loglikelihoods or {}
        self.chat = chat
        self.calls: list[tuple[str, list]] = []

    @property
    def info(self) -> ModelInfo:
        return ModelInfo("fake", "fake", None, "none", 512, "fake0", chat=self.chat, has_chat_template=self.chat)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.calls.append(("generate", requests))
        return [Generation((self.answer(r),)) for r in requests]

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        self.calls.append(("loglikelihood", requests))
        return [Loglikelihood(self.loglikelihoods[r.continuation.strip()], False, 1) for r in requests]

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        raise NotImplementedError

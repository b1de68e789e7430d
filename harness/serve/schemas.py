"""Request bodies of the OpenAI-compatible API, as pydantic models.

Types are strict (a string is not a number, `true` is not 1), so a malformed request is a 400
naming the field rather than a silently coerced value. Unknown fields are ignored, as OpenAI's
own server does; fields that would change the result but are not supported (streaming,
penalties, logit bias, suffix) are refused by `unsupported()` instead of being ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

MAX_N = 128  # choices per prompt
MAX_LOGPROBS = 20  # alternatives per position (OpenAI's limit for the legacy completions API)
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions; used for chat too

TokenIds = list[StrictInt]
Prompt = StrictStr | list[StrictStr] | TokenIds | list[TokenIds]
Stop = StrictStr | list[StrictStr]
Number = Annotated[float, Field(strict=True)]
Seed = Annotated[StrictInt, Field(ge=0, lt=2**63)]


class BaseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    n: Annotated[StrictInt, Field(ge=1, le=MAX_N)] = 1
    temperature: Annotated[Number, Field(ge=0)] | None = None
    top_p: Annotated[Number, Field(gt=0, le=1)] | None = None
    seed: Seed | None = None
    stop: Stop | None = None
    stream: StrictBool = False
    presence_penalty: Number | None = None
    frequency_penalty: Number | None = None
    logit_bias: dict[str, Any] | None = None
    user: StrictStr | None = None

    def stop_sequences(self) -> tuple[str, ...]:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in stops if s)

    def unsupported(self) -> str | None:
        """The first field set to something this server cannot honour (None when all is fine)."""
        if self.stream:
            return "stream"
        if self.presence_penalty or self.frequency_penalty:
            return "presence_penalty" if self.presence_penalty else "frequency_penalty"
        if self.logit_bias:
            return "logit_bias"
        return None


class CompletionRequest(BaseRequest):
    prompt: Prompt
    max_tokens: Annotated[StrictInt, Field(ge=0)] | None = None
    echo: StrictBool = False
    logprobs: Annotated[StrictInt, Field(ge=0, le=MAX_LOGPROBS)] | None = None
    best_of: Annotated[StrictInt, Field(ge=1)] | None = None
    suffix: StrictStr | None = None
    # Extensions that vLLM's server has too. `add_special_tokens`: prepend the model's prefix
    # (BOS) token to string prompts (default false: the text is tokenised as it is).
    # `return_tokens_as_token_ids`: name tokens "token_id:N" in `tokens` and `top_logprobs`.
    add_special_tokens: StrictBool = False
    return_tokens_as_token_ids: StrictBool = False

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: a string, or a list of token ids."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if p and all(isinstance(x, int) for x in p):
            return [list(p)]  # type: ignore[list-item]
        return list(p)  # type: ignore[arg-type]

    def unsupported(self) -> str | None:
        if self.suffix:
            return "suffix"
        if self.best_of is not None and self.best_of != self.n:
            return "best_of"
        return super().unsupported()


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: StrictStr | list[ContentPart]

    def as_dict(self) -> dict[str, str]:
        """{"role", "content"} as chat templates read it ("developer" is OpenAI's new "system")."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(BaseRequest):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    logprobs: StrictBool = False
    top_logprobs: StrictInt | None = None

    def budget(self) -> int:
        for value in (self.max_completion_tokens, self.max_tokens):
            if value is not None:
                return value
        return DEFAULT_MAX_TOKENS

    def unsupported(self) -> str | None:
        if self.logprobs or self.top_logprobs:
            return "logprobs"
        return super().unsupported()


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    prompt: StrictStr
    add_special_tokens: StrictBool = False  # true prepends the model's prefix (BOS) token


class DetokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: StrictStr | None = None
    tokens: TokenIds

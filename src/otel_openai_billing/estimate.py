"""Usage estimated with OpenAI's tokenizer, for billable calls that ended without usage.

A stream closed or broken before its usage chunk, or a server that ignores ``include_usage``, leaves a
call OpenAI bills with no usage to price. This module counts the request's input tokens and the output
tokens of the text actually received, with the model's tiktoken encoding, so the call is priced with
``openai_billing.cost.status=estimated`` instead of not at all.

Offline by design: tiktoken downloads its encoding files on first use, which fails without network
and would block the caller. The files are read only from local places, in this order: the configured
``tokenizer_dir`` (``o200k_base.tiktoken`` / ``cl100k_base.tiktoken``, optionally ``.gz``), the copies
the ``bpe-openai`` package ships, and tiktoken's own cache (``TIKTOKEN_CACHE_DIR``). Each file is checked
against the SHA-256 tiktoken pins. With no file (or no tiktoken) the call stays ``unpriced`` and says why.

Nothing here runs on the hot path: ``tiktoken`` is imported, and a file loaded, the first time a call
ends without usage. Text is counted, never recorded.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .usage import Usage

ENV_TOKENIZER_DIR = "OTEL_OPENAI_BILLING_TOKENIZER_DIR"

# Model name prefix -> encoding, most specific first. OpenAI publishes o200k_base for gpt-4o and later
# (tiktoken's own table); the gpt-6 family's tokenizer is not published and is assumed to be o200k_base.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-6", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("codex-", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)

# The files, their pinned SHA-256 and the split patterns, as tiktoken defines the two encodings
# (tiktoken_ext/openai_public.py).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"

# Chat framing, as OpenAI's token-counting guide (cookbook "How to count tokens with tiktoken") gives it
# for the gpt-4o family: 3 tokens per message, 1 more for a name, 3 that prime the reply; function
# definitions cost 7 each plus their "name:description" line, 3 for a parameter block, 3 per parameter
# plus its "name:type:description" line, enum values 3 each (less 3 per enum), and 12 at the end.
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
_FUNC_INIT = 7
_PROP_INIT = 3
_PROP_KEY = 3
_ENUM_INIT = -3
_ENUM_ITEM = 3
_FUNC_END = 12
# A tool call (in a request's history, or received) costs its name and arguments plus framing: 7
# tokens, as measured on the recorded exchanges in tests/estimate/recorded_exchanges.json.
_PER_TOOL_CALL = 7
# Marks the start of a received tool call in the collected text (counted as framing, not as text).
TOOL_CALL = "\x00tool_call\x00"
# Responses stream events whose "delta" is output text (or a tool call's arguments): most of a stream.
TEXT_DELTAS = frozenset(
    ("response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta")
)


def encoding_name(model: str) -> str | None:
    """The tiktoken encoding of ``model`` (``ft:<base>:...`` uses its base), or None if unknown."""
    name = model.lower()
    if name.startswith("ft:"):
        name = name[3:]
    for prefix, encoding in _PREFIXES:
        if name.startswith(prefix):
            return encoding
    return None


# Encodings already parsed, by the verified file they came from: every Estimator (one per instrument())
# shares them, so the ~1 s load and its memory are paid once per process.
_PARSED: dict[Path, Any] = {}


class Estimator:
    """Counts tokens offline; encodings are loaded once, on first need. Thread-safe."""

    def __init__(self, tokenizer_dir: str | Path | None = None) -> None:
        self._dir = Path(tokenizer_dir) if tokenizer_dir else None
        self._loaded: dict[str, Any] = {}  # encoding name -> tiktoken.Encoding, or the reason it is missing
        self._lock = threading.Lock()
        self._warming: set[str] = set()

    # --- tokenizers -----------------------------------------------------------------------------
    def warm(self, model: str | None) -> None:
        """Load ``model``'s encoding in a background thread (loading takes ~1 s), if not loaded yet."""
        name = encoding_name(model) if model else None
        if name is None or name in self._loaded or name in self._warming:
            return
        with self._lock:
            if name in self._loaded or name in self._warming:
                return
            self._warming.add(name)
        threading.Thread(
            target=self.encoding, args=(model,), name="otel-openai-billing:tokenizer", daemon=True
        ).start()

    def encoding(self, model: str | None) -> tuple[Any, str]:
        """``(tiktoken.Encoding, its name)``, or ``(None, why not)``."""
        if not model:
            return None, "no model name to choose a tokenizer"
        name = encoding_name(model)
        if name is None:
            return None, f"no known tokenizer for {model!r}"
        enc = self._loaded.get(name)
        if enc is None:
            with self._lock:
                enc = self._loaded.get(name)
                if enc is None:
                    enc = self._loaded[name] = self._load(name)
        if isinstance(enc, str):
            return None, enc
        return enc, name

    def _load(self, name: str) -> Any:
        try:
            import tiktoken
        except ImportError:
            return "tiktoken is not installed (pip install 'otel-openai-billing[estimate]')"
        expected, pattern, specials = _ENCODINGS[name]
        for path in self._candidates(name):
            shared = _PARSED.get(path)
            if shared is not None and path.is_file():
                return shared
            try:
                raw = path.read_bytes()
            except OSError:
                continue
            if path.suffix == ".gz":
                import gzip  # only here, on the loader's thread: start-up does not pay for it

                raw = gzip.decompress(raw)
            if hashlib.sha256(raw).hexdigest() != expected:
                continue  # a different or corrupt file: never count with the wrong vocabulary
            ranks = {
                base64.b64decode(token): int(rank)
                for token, rank in (line.split() for line in raw.splitlines() if line)
            }
            enc = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
            _PARSED[path] = enc
            return enc
        return (
            f"no {name} encoding file found offline (set {ENV_TOKENIZER_DIR} to a directory holding "
            f"{name}.tiktoken, install 'otel-openai-billing[estimate]', or fill TIKTOKEN_CACHE_DIR)"
        )

    def _candidates(self, name: str) -> list[Path]:
        paths: list[Path] = []
        configured = self._dir or (
            Path(os.environ[ENV_TOKENIZER_DIR]) if os.environ.get(ENV_TOKENIZER_DIR) else None
        )
        if configured is not None:
            paths += [configured / f"{name}.tiktoken", configured / f"{name}.tiktoken.gz"]
        spec = importlib.util.find_spec("bpe_openai")  # located, not imported: only its data files are read
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                paths.append(Path(location) / "data" / f"{name}.tiktoken.gz")
        cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
        if cache:
            paths.append(Path(cache) / hashlib.sha1(_BLOB_URL.format(name).encode()).hexdigest())
        return paths

    def counter(self, model: str | None) -> Callable[[str], int] | None:
        """A token counter for ``model``'s encoding if it is loaded already, else None (and load it).

        Never waits for a load: for callers on the hot path (budget reservations) that have a cheaper
        bound to fall back on until the encoding is ready.
        """
        name = encoding_name(model) if model else None
        enc = self._loaded.get(name) if name else None
        if enc is None:
            self.warm(model)
            return None
        if isinstance(enc, str):
            return None
        encode = enc.encode_ordinary
        return lambda text: len(encode(text))

    # --- counting ---------------------------------------------------------------------------------
    def input_tokens(self, model: str, body: Mapping[str, Any]) -> int | None:
        """Input tokens of a Chat Completions, Responses or legacy Completions request body, or None."""
        enc, _ = self.encoding(model)
        if enc is None or not isinstance(body, Mapping):
            return None
        return _count_request(enc, body)

    def output_tokens(self, model: str, text: str) -> int | None:
        """Tokens of received output text, or None without a tokenizer."""
        enc, _ = self.encoding(model)
        if enc is None:
            return None
        return len(enc.encode(text, disallowed_special=()))

    def estimate(self, model: str | None, body: Any, received: list[str] | None) -> tuple[Usage | None, str]:
        """``(estimated Usage, method)`` for a call that ended without usage, or ``(None, why not)``."""
        enc, name = self.encoding(model)
        if enc is None:
            return None, name
        if not isinstance(body, Mapping):
            return None, "the request body was not captured"
        inp = _count_request(enc, body)
        if inp is None:
            return None, "the request has content the tokenizer cannot count (images, audio or files)"
        received = received or []
        calls = received.count(TOOL_CALL)
        text = "".join(piece for piece in received if piece is not TOOL_CALL)
        out = len(enc.encode(text, disallowed_special=())) + calls * _PER_TOOL_CALL
        return Usage(input_tokens=inp, output_tokens=out, estimated=True), f"tiktoken:{name}"


def _tokens(enc: Any, value: Any) -> int | None:
    """Tokens of a message's content: a string, or text parts (None if any part is not text)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(enc.encode(value, disallowed_special=()))
    if isinstance(value, list):
        total = 0
        for part in value:
            if isinstance(part, str):
                total += len(enc.encode(part, disallowed_special=()))
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                total += len(enc.encode(part["text"], disallowed_special=()))
            elif isinstance(part, Mapping) and part.get("type") in ("refusal",):
                total += len(enc.encode(str(part.get("refusal", "")), disallowed_special=()))
            else:
                return None
        return total
    return len(enc.encode(json.dumps(value, separators=(",", ":")), disallowed_special=()))


def _message(enc: Any, message: Mapping[str, Any]) -> int | None:
    total = _PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            count = _tokens(enc, value)
            if count is None:
                return None
            total += count
        elif key == "tool_calls" and isinstance(value, list):
            for call in value:
                fn = call.get("function") if isinstance(call, Mapping) else None
                if isinstance(fn, Mapping):
                    total += _PER_TOOL_CALL + _tokens(enc, fn.get("name")) + _tokens(enc, fn.get("arguments"))  # type: ignore[operator]
        elif key in ("role", "name") and isinstance(value, str):
            total += len(enc.encode(value, disallowed_special=()))
            if key == "name":
                total += _PER_NAME
    return total


def _functions(enc: Any, functions: list[Mapping[str, Any]]) -> int:
    def n(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    total = _FUNC_END
    for fn in functions:
        description = str(fn.get("description") or "").rstrip(".")
        total += _FUNC_INIT + n(f"{fn['name']}:{description}")
        params = fn.get("parameters")
        props = params.get("properties") if isinstance(params, Mapping) else None
        if isinstance(props, Mapping) and props:
            total += _PROP_INIT
            for key, prop in props.items():
                prop = prop if isinstance(prop, Mapping) else {}
                total += _PROP_KEY
                enum = prop.get("enum")
                if isinstance(enum, list):
                    total += _ENUM_INIT + sum(_ENUM_ITEM + n(str(item)) for item in enum)
                kind = prop.get("type", "")
                total += n(f"{key}:{kind}:{str(prop.get('description') or '').rstrip('.')}")
    return total


def _count_request(enc: Any, body: Mapping[str, Any]) -> int | None:
    total = 0
    messages = body.get("messages")
    items = body.get("input")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, Mapping):
                return None
            count = _message(enc, message)
            if count is None:
                return None
            total += count
        total += _REPLY_PRIMING
    elif items is not None:  # Responses API
        if isinstance(body.get("instructions"), str):
            total += _PER_MESSAGE + len(enc.encode(body["instructions"], disallowed_special=()))
        if isinstance(items, str):
            total += _PER_MESSAGE + len(enc.encode(items, disallowed_special=()))
        elif isinstance(items, list):
            for item in items:
                if not isinstance(item, Mapping):
                    return None
                if item.get("type", "message") == "message":
                    count = _message(enc, item)
                elif item.get("type") == "function_call_output":
                    count = _PER_MESSAGE + (_tokens(enc, item.get("output")) or 0)
                elif item.get("type") == "function_call":
                    count = (
                        _PER_TOOL_CALL
                        + (_tokens(enc, item.get("name")) or 0)
                        + (_tokens(enc, item.get("arguments")) or 0)
                    )
                else:
                    return None
                if count is None:
                    return None
                total += count
        else:
            return None
        total += _REPLY_PRIMING
    elif "prompt" in body:  # legacy Completions
        prompt = body["prompt"]
        prompts = prompt if isinstance(prompt, list) else [prompt]
        for p in prompts:
            if not isinstance(p, str):
                return None
            total += len(enc.encode(p, disallowed_special=()))
        return total
    else:
        return None
    tools = [
        t.get("function") if isinstance(t.get("function"), Mapping) else t for t in body.get("tools") or ()
    ]
    functions = [t for t in tools if isinstance(t, Mapping) and isinstance(t.get("name"), str)]
    if functions:
        total += _functions(enc, functions)
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and isinstance(fmt.get("json_schema"), Mapping):
        total += len(enc.encode(json.dumps(fmt["json_schema"], separators=(",", ":")), disallowed_special=()))
    return total


def collect_text(received: list[str], data: dict[str, Any]) -> None:
    """Append the output text (and tool-call arguments) of one response body or stream event.

    Runs once per stream chunk while estimation is on, so it tests exact types (cheap) and touches
    only the keys that carry text.
    """
    choices = data.get("choices")
    if type(choices) is list:
        for choice in choices:
            if type(choice) is dict:
                collect_choice(received, choice)
        return
    kind = data.get("type")
    if kind is None:
        output = data.get("output")  # a whole Responses object (not streamed)
        if type(output) is list and data.get("object") == "response":
            _collect_output(received, output)
        return
    if type(kind) is not str:
        return  # junk: a list or a dict would not even hash
    if kind in TEXT_DELTAS:
        delta = data.get("delta")
        if type(delta) is str:
            received.append(delta)
    elif kind == "response.output_item.added":
        item = data.get("item")
        if type(item) is dict and item.get("type") == "function_call":
            received.append(TOOL_CALL)
            if type(item.get("name")) is str:
                received.append(item["name"])


def collect_choice(received: list[str], choice: dict[str, Any]) -> None:
    """Append the text of one Chat Completions (or legacy Completions) choice, whole or a delta."""
    message = choice.get("delta") or choice.get("message")
    if type(message) is not dict:
        text = choice.get("text")  # legacy Completions
        if type(text) is str:
            received.append(text)
        return
    content = message.get("content")
    if type(content) is str:
        received.append(content)
    refusal = message.get("refusal")  # a refusal is output the model generated: billed like text
    if type(refusal) is str:
        received.append(refusal)
    calls = message.get("tool_calls")
    if calls:
        _collect_calls(received, calls)


def _collect_output(received: list[str], output: list[Any]) -> None:
    for item in output:
        if type(item) is not dict:
            continue
        if item.get("type") == "function_call":
            received.append(TOOL_CALL)
            for key in ("name", "arguments"):
                if type(item.get(key)) is str:
                    received.append(item[key])
        content = item.get("content")
        for part in content if type(content) is list else ():
            if type(part) is dict:
                text = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
                if type(text) is str:
                    received.append(text)


def _collect_calls(received: list[str], calls: Any) -> None:
    for call in calls if type(calls) is list else ():
        fn = call.get("function") if type(call) is dict else None
        if type(fn) is dict:
            if call.get("id"):  # the first delta (or the whole call) of a new tool call
                received.append(TOOL_CALL)
            for key in ("name", "arguments"):
                if type(fn.get(key)) is str:
                    received.append(fn[key])


_DEFAULT = Estimator()


def estimate_input_tokens(model: str, body: Mapping[str, Any]) -> int | None:
    """Estimated input tokens of a request body for ``model`` (None when it cannot be counted offline)."""
    return _DEFAULT.input_tokens(model, body)


def estimate_output_tokens(model: str, text: str) -> int | None:
    """Estimated output tokens of text received from ``model`` (None without a tokenizer)."""
    return _DEFAULT.output_tokens(model, text)


def prepare(model: str) -> None:
    """Start loading ``model``'s encoding in the background, so a first estimate does not wait ~1 s."""
    _DEFAULT.warm(model)

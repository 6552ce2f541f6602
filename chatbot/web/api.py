"""The REST API for integrators (a hospital portal, a support desk tool), mounted at /api.

- `POST /api/ask`: a request of the JSON protocol of `chatbot ask --json`, read by the same code
  (`chatbot.protocol`), answered with the same object plus `answer_id`;
- `POST /api/feedback`: a like or dislike (and an optional reason) on an answer, by its id;
- `GET /api/health`: whether the engine can answer, and the build it answers from.

Stateless: every answer is kept in the shared store under its id with what a vote on it needs
(`AnswerRecord`), so a vote may reach any server sharing the store, whichever one answered; no
session, no sticky routing. The site's layers (`chatbot.web.security`) wrap it like the chat: body
cap, Host and Origin checks, the site password, security headers. Every refusal is one JSON line,
`{"error": "..."}` (`ApiErrorBodies` gives the outer layers' refusals that shape too), never a
traceback. The schema is at /api/openapi.json; there is no docs page, whose scripts would come from
a CDN this site's policy refuses.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from chatbot.answering.answerer import DEFAULT_TOP_K, Answerer
from chatbot.errors import ChatbotError, FeedbackStoreError, InputError
from chatbot.feedback.limits import GAPS, NOTICES, VOTES, Client, RateLimiter
from chatbot.feedback.protocol import FeedbackStoreLike
from chatbot.feedback.records import MAX_COMMENT_CHARS, REASONS, AnswerRecord, new_vote_id
from chatbot.protocol import answer_json, decode_request, request_from
from chatbot.question.cleaning import MAX_QUESTION_CHARS, clean_question
from chatbot.web.conversation import Turn, comment_of, feedback_record, gap_record
from chatbot.web.security import ASGIApp, AsgiMessage, Receive, Scope, Send

log = logging.getLogger("chatbot.web")

API_PATH = "/api"
VOTE_ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"  # as `check_vote_id` accepts
RETRY_AFTER = "60"  # seconds: the limits count a sliding minute
EXAMPLE_QUESTION = "what is a stem cell transplant?"


@dataclass(frozen=True)
class ApiLimits:
    """Votes and content gaps one client may store a minute. An API client has no chat session,
    so it is counted by its address alone, at the limit the chat gives an address (several
    patients behind one portal)."""

    votes: RateLimiter
    gaps: RateLimiter
    notices: RateLimiter = field(default_factory=lambda: RateLimiter(NOTICES))  # log lines on refusals

    @classmethod
    def default(cls) -> ApiLimits:
        return cls(RateLimiter(VOTES), RateLimiter(GAPS))


# The documented shapes. The protocol's own code reads requests and writes answers (so the API
# says exactly what `chatbot ask --json` says); these models are the schema integrators read.
class AskRequest(BaseModel):
    question: str = Field(
        description=f"What the user asked, at most {MAX_QUESTION_CHARS:,} characters.",
        examples=["is it risky?"],
    )
    history: list[str] = Field(
        default_factory=list,
        description="The user's earlier questions in this conversation, oldest first (follow-ups "
        "are read with them). A plain JSON string is also accepted as the whole request.",
        examples=[[EXAMPLE_QUESTION]],
    )


class AlertOut(BaseModel):
    kind: Literal["emergency", "urgent", "crisis"] = Field(description="The safety card shown.")
    message: str = Field(description="What to do now; show it first and alone.")


class PassageOut(BaseModel):
    id: str = Field(description="The passage's id in this index build.")
    text: str = Field(description="The passage, quoted from the corpus.")
    source: str = Field(description="The corpus file.", examples=["refractory-myeloma.txt"])
    section: str = Field(description="The citation.", examples=["Title › Section › Subsection"])
    score: float = Field(description="The fused relevance score the engine ranks by.")
    start: int = Field(description="Offset of the passage in its document.")
    end: int = Field(description="End offset of the passage in its document.")
    highlights: list[list[int]] = Field(description="[start, end] offsets in `text` of the best sentences.")
    ranks: dict[str, int | None] = Field(description="Its rank in the dense and the BM25 search.")


class AskResponse(BaseModel):
    question: str = Field(description="The question as read (cleaned).")
    query: str = Field(description="The text actually searched.")
    outcome: Literal["answer", "closest", "not_covered"] = Field(
        description='"answer": the passages answer it; "closest": on the subject, but the article '
        'may not say exactly; "not_covered": outside the corpus\'s subject, or an emergency.'
    )
    answered: bool = Field(description="`outcome` is not not_covered (for older clients).")
    alert: AlertOut | None = Field(description="A safety card, or null.")
    advice: Literal["discuss-with-care-team"] | None = Field(
        description="Set when the question asks for a personal medical decision."
    )
    passages: list[PassageOut] = Field(description="The passages to show, best first.")
    closest_sections: list[str] | None = Field(
        default=None, description="Present when not covered: sections to browse instead."
    )
    asks_for: str | None = Field(
        default=None,
        description="Present when no passage gives the kind of fact asked for.",
        examples=["a dose"],
    )
    tentative: bool | None = Field(default=None, description="Present (true) when `outcome` is closest.")
    answer_id: str = Field(
        description="This answer's id, for POST /api/feedback (any server sharing the store accepts it).",
        examples=["3f2c9a0d4b6e4f1a8c7d5e9b0a1c2d3e"],
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(
        pattern=VOTE_ID_PATTERN,
        description="The `answer_id` of a POST /api/ask answer.",
        examples=["3f2c9a0d4b6e4f1a8c7d5e9b0a1c2d3e"],
    )
    vote: Literal["like", "dislike"] = Field(
        description="A new vote on the same answer replaces the earlier one.", examples=["dislike"]
    )
    reason: str | None = Field(
        default=None,
        description=f"Optional: one of {', '.join(REASONS)}, or free text (kept as reason "
        f'"other" with the text as the comment, cut at {MAX_COMMENT_CHARS:,} characters).',
        examples=["not-answered"],
    )


class FeedbackResponse(BaseModel):
    id: str = Field(description="The vote's id: the answer id (one vote per answer).")


class HealthResponse(BaseModel):
    ready: bool = Field(description="Whether the engine can answer (HTTP 503 when not).")
    build_id: str | None = Field(description="The index build answers come from.")
    model: str | None = Field(description="The embedding model of that build.")
    corpus_hash: str | None = Field(description="Hash of the corpus the build was made from.")
    chunks: int | None = Field(description="Passages in the build.")
    documents: int | None = Field(description="Documents in the build.")


class ErrorResponse(BaseModel):
    error: str = Field(description="One line naming what is wrong.")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in (
        (400, "The body is not JSON."),
        (413, "The body is over the site's size limit."),
        (422, "The JSON does not have the expected fields and types."),
    )
}
ASK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": AskRequest.model_json_schema(),
            "example": {"question": "is it risky?", "history": [EXAMPLE_QUESTION]},
        }
    },
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def build_api(
    engine: Answerer, store: FeedbackStoreLike, limits: ApiLimits | None = None, top_k: int = DEFAULT_TOP_K
) -> FastAPI:
    """The API as a FastAPI app of its own (its own schema and error handlers), to mount at /api."""
    limits = limits or ApiLimits.default()
    api = FastAPI(
        title="Refractory myeloma questions: REST API",
        version="1",
        description="Cited, extractive answers from the corpus, and feedback on them. Errors are "
        '`{"error": "one line"}`.',
        docs_url=None,  # no page: its scripts would come from a CDN the site's policy refuses
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HTTPException, _http_error)

    @api.post(
        "/ask",
        response_model=AskResponse,
        responses=ERRORS | {503: {"model": ErrorResponse, "description": "The engine cannot answer now."}},
        openapi_extra={"requestBody": ASK_BODY},
        summary="Answer a question with passages quoted from the corpus",
    )
    async def ask(request: Request) -> Any:
        # The body is read by the protocol's own code, not by a model: the same requests are
        # accepted and refused, in the same words, as by `chatbot ask --json`.
        body = (await request.body()).decode("utf-8", errors="surrogateescape")
        try:
            data = decode_request(body)
        except InputError as exc:
            return error(400, f"The request body is {exc}.")
        try:
            question, history = request_from(data)
        except InputError as exc:
            return error(422, str(exc))
        problem = _question_problem(question)
        if problem:
            return error(422, problem)
        return await run_in_threadpool(_answer, engine, store, limits, question, history, top_k, request)

    @api.post(
        "/feedback",
        response_model=FeedbackResponse,
        responses=ERRORS
        | {
            404: {"model": ErrorResponse, "description": "No answer with that id is stored."},
            429: {"model": ErrorResponse, "description": "Too many votes from this client a minute."},
            503: {"model": ErrorResponse, "description": "The feedback store cannot be used now."},
        },
        summary="Like or dislike an answer, with an optional reason",
    )
    def feedback(body: FeedbackRequest, request: Request) -> Any:
        try:
            shown = store.answer(body.answer_id)
        except FeedbackStoreError as exc:
            return error(503, f"The feedback store cannot be used: {exc}")
        if shown is None:
            return error(
                404,
                f"No answer {body.answer_id!r} is stored: send the answer_id of a POST /api/ask answer "
                "from a server sharing this store.",
            )
        if not limits.votes.allow(_client(request)):
            return error(
                429, _too_many("votes", VOTES.events * VOTES.per_address), {"retry-after": RETRY_AFTER}
            )
        reason, comment = _reason(body.reason)
        if not store.record_feedback(shown.vote(body.vote, reason, comment)):  # the store logs why
            return error(503, "The feedback store cannot be written now; send the vote again later.")
        return {"id": shown.answer_id}

    @api.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "The engine cannot answer."}},
        summary="Whether this server can answer, and from which build",
    )
    def health() -> Any:
        try:
            manifest = engine.index.manifest
            ready = manifest.chunks > 0 and bool(engine.build_id)
            found: dict[str, Any] = {
                "build_id": manifest.build_id,
                "model": manifest.model_id,
                "corpus_hash": manifest.corpus_hash,
                "chunks": manifest.chunks,
                "documents": manifest.documents,
            }
        except Exception as exc:  # no index, a damaged one: not ready, said to the load balancer
            # One line, no traceback: a load balancer asks every few seconds.
            log.warning("health check: the engine cannot answer (%s: %s)", type(exc).__name__, exc)
            ready, found = False, dict.fromkeys(("build_id", "model", "corpus_hash", "chunks", "documents"))
        return JSONResponse({"ready": ready, **found}, status_code=200 if ready else 503)

    return api


def _question_problem(question: str) -> str | None:
    """Why a question cannot be answered as sent, or None. The chat cuts a long message and says
    so beside the answer; an integrator gets no such line, so the API refuses it instead."""
    if not clean_question(question):
        return '"question" is empty: send the question as text.'
    length = len(" ".join(question.split()))
    if length > MAX_QUESTION_CHARS:
        return (
            f'"question" is {length:,} characters, over the {MAX_QUESTION_CHARS:,} the engine reads: '
            "send the question itself, shorter."
        )
    return None


def _answer(
    engine: Answerer,
    store: FeedbackStoreLike,
    limits: ApiLimits,
    question: str,
    history: list[str],
    top_k: int,
    request: Request,
) -> JSONResponse:
    """Answer, keep the answer under a new id, and record a content gap as the chat does."""
    try:
        build_id = engine.build_id
        answer = engine.ask(question, history, top_k)
    except ChatbotError as exc:
        return error(503, f"Cannot answer now: {exc}")
    except Exception:  # the details go to the operators' log, never to the client
        log.exception("answering an API question failed")
        return error(500, "Answering failed on the server; its log has the details. Try again later.")
    answer_id = new_vote_id()
    # Kept as the chat keeps a turn (questions cleaned, texts within the store's bounds).
    turn = Turn(
        clean_question(question),
        tuple(clean_question(h) for h in history),
        answer,
        build_id,
        first_message=0,
        last_message=0,
        vote_id=answer_id,
    )
    shown = feedback_record(turn, "like")  # the bounded fields a vote row has; the vote is not kept
    kept = AnswerRecord(
        answer_id, shown.question, shown.history, shown.query, shown.passages, build_id, turn.time
    )
    # A store that cannot be written is logged there; the answer is given anyway, as in the chat
    # (a vote on it then gets 404).
    store.record_answer(kept)
    gap = gap_record(turn)
    if gap is not None:
        client = _client(request)
        if limits.gaps.allow(client):
            store.record_gap(gap)  # a failure is logged by the store
        elif limits.notices.allow(client):  # at most a line a minute per client: spam must not fill the log
            log.warning("content gaps from %s over the limit are not stored", client.address or "a client")
    return JSONResponse({**answer_json(answer), "answer_id": answer_id})


def _reason(typed: str | None) -> tuple[str | None, str | None]:
    """(reason code, comment): a code as it is, other text as "other" with the text (cut to the
    store's bound, as the chat cuts a comment), nothing for no text."""
    if typed is None or not typed.strip():
        return None, None
    if typed.strip() in REASONS:
        return typed.strip(), None
    return "other", comment_of(typed)[0]


def _client(request: Request) -> Client:
    return Client("", request.client.host if request.client else "")


def _too_many(what: str, most: int) -> str:
    return f"Too many {what} from this address: at most {most} a minute; try again in a minute."


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (a list of every error, with the input echoed) as one line naming the first."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = [str(part) for part in first.get("loc", ()) if part != "body"]
    message = str(first.get("msg", "not valid"))
    if not where:
        shape = '{"answer_id": "...", "vote": "like" | "dislike", "reason": "..."}'
        if first.get("type") == "missing":
            return error(422, f"The request has no body: send a JSON object {shape}.")
        return error(422, f"The body must be a JSON object {shape}, sent as application/json ({message}).")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return error(422, f'"{".".join(where)}": {message}{more}.')


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """404 and 405 (no such route, or a wrong method) in the API's shape, naming where routes are."""
    assert isinstance(exc, HTTPException)
    message = (
        f"{exc.detail}: {request.method} {request.url.path}. The routes are listed at /api/openapi.json."
    )
    return error(exc.status_code, message, dict(exc.headers or {}))


class ApiErrorBodies:
    """The site's refusals of an /api request as the API's `{"error": "..."}`.

    The layers in front of every page answer in their own words: plain text for a wrong host or
    password, FastAPI's `{"detail": ...}` for a body over the cap or not JSON. Under /api an error
    response is buffered (they are short) and said as one JSON line; nothing else changes.
    """

    def __init__(self, app: ASGIApp, prefix: str = API_PATH) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        start: AsgiMessage | None = None
        chunks: list[bytes] = []

        async def send_json_errors(message: AsgiMessage) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = json.dumps({"error": _error_text(b"".join(chunks))}, ensure_ascii=False).encode()
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _REPLACED]
            headers = [*kept, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_json_errors)


_REPLACED = {b"content-type", b"content-length"}  # the body is new


def _error_text(body: bytes) -> str:
    """The one line an error body says: the API's own `error`, FastAPI's `detail`, or the text."""
    text = body.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        for key in ("error", "detail"):
            if isinstance(value.get(key), str):
                return " ".join(value[key].split())
    return " ".join(text.split()) or "The request was refused."

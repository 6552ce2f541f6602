"""The patient chat (Gradio): wires widgets to the engine and holds no retrieval logic.

What each answer showed is kept per session on the server (`gr.State` of `Turn`s), never in the
browser: a vote is stored with exactly those passages, a "not covered" question is stored as a
content gap, and the conversation can be downloaded as Markdown with every citation. Citations
link to their section on the "Read the article" page. Safe defaults: no question history kept
in the browser, no analytics, no API page; `chatbot.web.security` adds the security headers and passwords.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from chatbot.answering.answer import Passage  # noqa: E402
from chatbot.answering.answerer import Answerer  # noqa: E402
from chatbot.errors import ChatbotError  # noqa: E402
from chatbot.feedback.limits import Client, ClientLimits  # noqa: E402
from chatbot.feedback.protocol import FeedbackStoreLike  # noqa: E402
from chatbot.feedback.records import MAX_COMMENT_CHARS, FeedbackRecord, utc_now  # noqa: E402
from chatbot.feedback.records import REASONS as REASON_CODES  # noqa: E402
from chatbot.present import (  # noqa: E402
    DISCLAIMER,
    chat_messages,
    escape_markdown,
    sources_markdown,
    unescape_markdown,
)
from chatbot.question.cleaning import MAX_QUESTION_CHARS, clean_question  # noqa: E402
from chatbot.web.article import ARTICLE_PATH, article_url, section_anchor  # noqa: E402
from chatbot.web.chat_assets import CSS, HEAD  # noqa: E402
from chatbot.web.conversation import (  # noqa: E402
    COMMENT_CUT,
    Turn,
    comment_of,
    feedback_record,
    find_turn,
    gap_record,
    vote_of,
)
from chatbot.web.downloads import private_file, private_folder  # noqa: E402
from chatbot.web.transcript import FILENAME, transcript_markdown  # noqa: E402

log = logging.getLogger("chatbot.app")

EXAMPLES = (
    "What is refractory myeloma?",
    "How do doctors find out if myeloma has stopped responding?",
    "What treatments are there when myeloma comes back?",
    "Is a stem cell transplant an option?",
    "What is CAR T-cell therapy?",
)
NOTICE = (
    "Answers are passages quoted from the article *Understanding Refractory Myeloma: Definition, "
    f"Symptoms, and Treatment*, each with the section it comes from. {DISCLAIMER} "
    "In an emergency, call your local emergency number."
)
REASONS = [
    ("It showed the wrong passage", "wrong-passage"),
    ("It did not answer my question", "not-answered"),
    ("It was hard to understand", "hard-to-understand"),
    ("Something else", "other"),
]
THANKS = "Thank you: your feedback helps the support team improve the answers."
NOT_SAVED = "Sorry, your feedback could not be saved just now; the chat still works."
TOO_MANY = "You have sent many votes in a minute: this one was not saved. Please wait a little."
SORRY = "Sorry, something went wrong while answering. Please try again in a moment."
SHORTENED = f"*Your message was long: only its first {MAX_QUESTION_CHARS:,} characters were searched.*"
# Fonts from the system: the default theme's web fonts are remote, which the CSP blocks.
THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
ChatMessage = dict[str, Any]
_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(content: Any) -> str:
    """The text of a message's content, which arrives as a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or "")
    return ""


def _utf8(value: Any) -> Any:
    """A message with lone surrogates taken out of its text: UTF-8 cannot carry them back."""
    if isinstance(value, str):
        return _SURROGATES.sub("", value)
    if isinstance(value, list):
        return [_utf8(v) for v in value]
    if isinstance(value, dict):
        return {k: _utf8(v) for k, v in value.items()}
    return value


def earlier_questions(history: list[ChatMessage]) -> list[str]:
    """The user's questions so far, oldest first (sources blocks and answers are left out)."""
    return [unescape_markdown(_text(m.get("content"))) for m in history if m.get("role") == "user"]


def download_label(questions: int) -> str:
    count = "1 question" if questions == 1 else f"{questions} questions"
    return f"Download the conversation ({count}, Markdown)"


def passage_link(p: Passage) -> str:
    """The article at this passage, its best sentences (the first to the last highlight) marked."""
    spans = sorted(p.highlights)
    sentence = (spans[0][0], spans[-1][1]) if spans else None
    return article_url(p.source, p.section, p.start, p.end, p.text, sentence)


def section_links(engine: Answerer) -> Any:
    """Where a section ("Title › Section › Subsection") of the current build links on the article
    page (its heading in view), or None for a section the build does not have."""

    def link(citation: str) -> str | None:
        source = next((c.source for c in engine.index.chunks if c.citation == citation), None)
        if source is None:
            return None
        return f"{ARTICLE_PATH}?{urlencode({'source': source})}#{section_anchor(citation)}"

    return link


def respond(
    engine: Answerer,
    message: str,
    history: list[ChatMessage] | None,
    turns: list[Turn] | None = None,
    store: FeedbackStoreLike | None = None,
    client: Client | None = None,
    limits: ClientLimits | None = None,
) -> tuple[str, list[ChatMessage], list[Turn]]:
    """One turn: the question, the answer with linked citations, and a collapsed Sources block.

    Whatever arrives (a pasted book, control characters, lone surrogates, a malformed API call),
    the patient gets a reply and never a traceback: the question is cleaned and cut as the engine
    searches it, and an unexpected failure is logged and answered with an apology.
    """
    history = [_utf8(m) for m in history if isinstance(m, dict)] if isinstance(history, list) else []
    turns = list(turns or [])
    typed = message if isinstance(message, str) else ""
    question = clean_question(typed)
    if not question:
        return "", history, turns
    shortened = len(" ".join(typed[: MAX_QUESTION_CHARS * 2].split())) > MAX_QUESTION_CHARS
    earlier = [clean_question(q) for q in earlier_questions(history)]
    # The question is shown as searched: escaped, so markup in it is text, never rendered.
    shown_question = escape_markdown(question + (" …" if shortened else ""))
    turn: list[ChatMessage] = [{"role": "user", "content": shown_question}]
    try:
        build_id = engine.build_id
        answer = engine.ask(question, earlier)
        messages = chat_messages(answer, passage_link, section_links(engine))
    except ChatbotError as exc:
        turn.append({"role": "assistant", "content": f"Sorry, I cannot answer right now: {exc}"})
        return "", history + turn, turns
    except Exception:  # the details go to the operators' log, never to the patient
        log.exception("answering a question failed")
        turn.append({"role": "assistant", "content": SORRY})
        return "", history + turn, turns
    if shortened:  # said in the answer, never inside an alert card
        if answer.alert and len(messages) == 1:
            messages.append(SHORTENED)
        else:
            messages[-1] = f"{SHORTENED}\n\n{messages[-1]}"
    # The alert card is a message of its own, first; the answer follows in the next one.
    turn.extend({"role": "assistant", "content": m} for m in messages)
    if answer.passages:
        turn.append(
            {
                "role": "assistant",
                "content": sources_markdown(answer, passage_link),
                "metadata": {"title": f"Sources ({len(answer.passages)})", "status": "done"},
            }
        )
    first = len(history) + 1
    shown = Turn(question, tuple(earlier), answer, build_id, first, len(history) + len(turn) - 1)
    gap = gap_record(shown)
    if gap is not None and store is not None:
        # Over the client's limit the gap is not stored (logged at most once a minute per client);
        # the answer is shown anyway, as on a store failure.
        if limits is None or client is None or limits.gaps.allow(client):
            store.record_gap(gap)  # a failure is logged by the store
        elif limits.notices.allow(Client("", client.address or client.session)):
            log.warning("content gaps from %s over the limit are not stored", client.address or "a client")
    return "", history + turn, [*turns, shown]


def client_of(request: Any) -> Client:
    """The chat session and address of a Gradio request (a direct call has neither)."""
    host = getattr(getattr(request, "client", None), "host", None)
    return Client(str(getattr(request, "session_hash", None) or ""), str(host or ""))


def record_vote(
    store: FeedbackStoreLike | None,
    shown: list[Turn] | None,
    message_index: Any,
    liked: Any,
    client: Client | None = None,
    limits: ClientLimits | None = None,
) -> tuple[FeedbackRecord | None, bool, str]:
    """A like or dislike on an answer: (the record a reason may be added to, whether to ask for
    one, the status line). A store that cannot be written is logged there and said here; a vote
    over the client's limit is not stored, and said too. A new vote on the same answer replaces
    the old one (the turn's vote id)."""
    turn = find_turn(shown or [], message_index)
    vote = vote_of(liked)
    if turn is None or vote is None or store is None:  # a withdrawn vote, or not an answer
        return None, False, ""
    if limits is not None and client is not None and not limits.votes.allow(client):
        return None, False, TOO_MANY
    record = feedback_record(turn, vote)
    if not store.record_feedback(record):
        return None, False, NOT_SAVED
    if vote == "dislike":
        return record, True, ""
    return None, False, THANKS


def record_reason(
    store: FeedbackStoreLike | None, record: FeedbackRecord | None, why: Any, typed: Any
) -> str:
    """The reason and comment given after a dislike, attached to its vote: the status line.

    Whatever arrives (a reason not offered, a 10 MB comment, no text at all from a malformed
    call), the patient gets a line, never an error: an unknown reason is "other", a long comment
    is cut to its bound and the cut said."""
    if record is None:
        return ""
    comment, cut = comment_of(typed)
    reason = why if why in REASON_CODES else None
    wanted = store is not None and bool(reason or comment.strip())
    if wanted and store is not None and not store.add_reason(record, reason or "other", comment):
        return NOT_SAVED
    return f"{THANKS} {COMMENT_CUT}" if cut else THANKS


def queue_settings(cpus: int | None = None) -> dict[str, int]:
    """The Gradio queue for this machine. An answer is CPU-bound (embedding the question), so about
    as many run at once as there are cores: two per core, so that one computes while another's
    request and reply are handled (measured on 2 cores with 8 and 32 users: 4 at once gave the
    most answers per second, 2 a few percent fewer, 1 a fifth fewer). The line behind them holds
    bursts (64 per core, a few seconds of work) and refuses beyond, rather than stalling answers
    for minutes."""
    n = max(1, cpus if cpus is not None else os.cpu_count() or 1)
    return {"default_concurrency_limit": 2 * n, "max_size": 64 * n}


class Transcripts:
    """Markdown files of conversations for the download button, in one private folder.

    Gradio copies a returned file into its own cache (cleared by `delete_cache`); ours is
    replaced at every turn and the folder is removed when the process exits (`web.downloads`).
    """

    def __init__(self) -> None:
        self.folder = private_folder("chatbot-transcripts-")

    def write(self, turns: list[Turn], previous: str | None) -> str | None:
        if previous and Path(previous).parent.parent == self.folder:
            shutil.rmtree(Path(previous).parent, ignore_errors=True)
        if not turns:
            return None
        return str(private_file(self.folder, FILENAME, transcript_markdown(turns, utc_now())))


def build_app(engine: Answerer, store: FeedbackStoreLike | None = None) -> gr.Blocks:
    """The patient chat. `store` keeps votes and content gaps; None keeps nothing.

    One function, longer than most: Gradio builds a page inside one `with gr.Blocks()` tree, and
    its event wiring must see the components it connects. Read top to bottom, it is the page in
    the order a patient meets it; the logic it calls (`respond`, `record_vote`) lives apart.
    """
    transcripts = Transcripts()
    limits = ClientLimits.default()  # per server: every session's votes and gaps
    with gr.Blocks(title="Refractory myeloma questions", delete_cache=(1800, 3600)) as demo:
        gr.Markdown("# Questions about refractory myeloma")
        gr.Markdown(NOTICE, elem_id="notice")
        turns = gr.State([])  # list[Turn]: what each answer showed, on the server only
        voted = gr.State(None)  # the FeedbackRecord a reason may still be added to
        last_file = gr.State(None)
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label="Conversation",
            show_label=False,  # a floating label would cover the top of the answer in view
            height=560,  # on a phone the chat is part of the page instead (CSS)
            autoscroll=False,  # it would scroll to the end of an answer: HEAD's script shows its start
            examples=[{"text": q} for q in EXAMPLES],
            placeholder="Ask a question about refractory myeloma, or pick an example.",
            buttons=["copy"],
            feedback_options=("Like", "Dislike"),
        )
        # Right under the answers (where Like and Dislike are), not below the question box.
        with gr.Group(visible=False, elem_id="reason-panel") as reason_panel:
            reason = gr.Radio(REASONS, label="What was wrong with this answer? (optional)", elem_id="reason")
            comment = gr.Textbox(
                label="Anything else? (optional)",
                elem_id="reason-comment",
                max_lines=3,
                max_length=MAX_COMMENT_CHARS,  # the browser's bound; the server cuts too
            )
            with gr.Row():
                reason_send = gr.Button("Send", elem_id="reason-send", size="sm")
                reason_skip = gr.Button("No thanks", elem_id="reason-skip", size="sm")
        status = gr.Markdown("", elem_id="feedback-status")
        with gr.Row():
            question = gr.Textbox(
                elem_id="question",
                show_label=False,
                placeholder="Type your question and press Enter",
                scale=5,
                max_lines=4,
            )
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
        with gr.Row():
            clear = gr.Button("Clear conversation", elem_id="clear")
            download = gr.DownloadButton(download_label(0), elem_id="download", interactive=False)

        def on_submit(
            message: str, history: list[ChatMessage], shown: list[Turn], request: gr.Request
        ) -> tuple[Any, ...]:
            return respond(engine, message, history, shown, store, client_of(request), limits)

        def on_example(
            evt: gr.SelectData, history: list[ChatMessage], shown: list[Turn], request: gr.Request
        ) -> tuple[Any, ...]:
            value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
            text = str(value.get("text", ""))
            return respond(engine, text, history, shown, store, client_of(request), limits)

        def after_turn(shown: list[Turn], previous: str | None) -> tuple[Any, ...]:
            path = transcripts.write(shown, previous)
            button = gr.DownloadButton(download_label(len(shown)), value=path, interactive=path is not None)
            return button, path, None, gr.Group(visible=False), ""

        def on_like(evt: gr.LikeData, shown: list[Turn], request: gr.Request) -> tuple[Any, ...]:
            vote = record_vote(store, shown, evt.index, evt.liked, client_of(request), limits)
            record, ask_reason, status = vote
            return record, gr.Group(visible=ask_reason), status

        def on_reason(record: FeedbackRecord | None, why: str | None, more: str) -> tuple[Any, ...]:
            return None, gr.Group(visible=False), None, "", record_reason(store, record, why, more)

        chat_io = ([question, chatbot, turns], [question, chatbot, turns])
        after_io = ([turns, last_file], [download, last_file, voted, reason_panel, status])
        private: dict[str, Any] = {"api_visibility": "private"}
        asked = [
            question.submit(on_submit, *chat_io, api_name="chat"),
            send.click(on_submit, *chat_io, **private),
            chatbot.example_select(on_example, [chatbot, turns], [question, chatbot, turns], **private),
        ]
        for event in asked:  # the page's script (HEAD) brings the new answer's start into view
            event.then(after_turn, *after_io, **private)
        chatbot.like(on_like, [turns], [voted, reason_panel, status], **private)
        reason_io = [voted, reason_panel, reason, comment, status]
        reason_send.click(on_reason, [voted, reason, comment], reason_io, **private)
        reason_skip.click(lambda: (None, gr.Group(visible=False), None, "", ""), None, reason_io, **private)
        clear.click(lambda: ("", [], []), None, [question, chatbot, turns], **private).then(
            after_turn, *after_io, **private
        )
        chatbot.clear(lambda: [], None, [turns], **private).then(after_turn, *after_io, **private)
    demo.queue(**queue_settings())
    demo.transcripts = transcripts  # type: ignore[attr-defined]
    return demo


def launch_options(host: str, port: int) -> dict[str, Any]:
    """The launch settings that keep a local health app private (for `demo.launch`, as in tests)."""
    return {
        "server_name": host,
        "server_port": port,
        "share": False,
        **mount_options(),
    }


def mount_options() -> dict[str, Any]:
    """The settings shared by `launch` and `gr.mount_gradio_app`: nothing kept in the browser."""
    return {
        "footer_links": [],
        "run_history": False,
        "enable_monitoring": False,
        "mcp_server": False,
        "show_error": False,
        "theme": THEME,
        "css": CSS,
        "head": HEAD,
    }

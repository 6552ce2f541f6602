"""The Gradio chat: wires widgets to the engine and holds no retrieval logic.

Safe defaults for health questions: bound to 127.0.0.1, no share link, no question history kept
in the browser, no analytics, no API page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from chatbot.answer import Engine  # noqa: E402
from chatbot.errors import ChatbotError  # noqa: E402
from chatbot.present import DISCLAIMER, answer_markdown, sources_markdown  # noqa: E402

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
Message = dict[str, Any]


def _text(content: Any) -> str:
    """The text of a message's content, which arrives as a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or "")
    return ""


def earlier_questions(history: list[Message]) -> list[str]:
    """The user's questions so far, oldest first (sources blocks and answers are left out)."""
    return [_text(m.get("content")) for m in history if m.get("role") == "user"]


def respond(engine: Engine, message: str, history: list[Message] | None) -> tuple[str, list[Message]]:
    """One turn: the question, the answer with its citations, and a collapsed Sources block."""
    history = list(history or [])
    question = (message or "").strip()
    if not question:
        return "", history
    turn: list[Message] = [{"role": "user", "content": question}]
    try:
        answer = engine.ask(question, earlier_questions(history))
    except ChatbotError as exc:
        turn.append({"role": "assistant", "content": f"Sorry, I cannot answer right now: {exc}"})
        return "", history + turn
    turn.append({"role": "assistant", "content": answer_markdown(answer)})
    if answer.passages:
        turn.append(
            {
                "role": "assistant",
                "content": sources_markdown(answer),
                "metadata": {"title": f"Sources ({len(answer.passages)})", "status": "done"},
            }
        )
    return "", history + turn


def build_app(engine: Engine) -> gr.Blocks:
    with gr.Blocks(title="Refractory myeloma questions") as demo:
        gr.Markdown("## Questions about refractory myeloma")
        gr.Markdown(NOTICE, elem_id="notice")
        chatbot = gr.Chatbot(
            elem_id="chatbot",
            label="Conversation",
            height=560,
            examples=[{"text": q} for q in EXAMPLES],
            placeholder="Ask a question about refractory myeloma, or pick an example.",
            buttons=["copy"],
        )
        with gr.Row():
            question = gr.Textbox(
                elem_id="question",
                show_label=False,
                placeholder="Type your question and press Enter",
                scale=5,
                max_lines=4,
            )
            send = gr.Button("Ask", variant="primary", scale=1)
        clear = gr.Button("Clear conversation", elem_id="clear")

        def on_submit(message: str, history: list[Message]) -> tuple[str, list[Message]]:
            return respond(engine, message, history)

        def on_example(evt: gr.SelectData, history: list[Message]) -> tuple[str, list[Message]]:
            value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
            return respond(engine, str(value.get("text", "")), history)

        question.submit(on_submit, [question, chatbot], [question, chatbot], api_name="chat")
        send.click(on_submit, [question, chatbot], [question, chatbot], api_visibility="private")
        chatbot.example_select(on_example, [chatbot], [question, chatbot], api_visibility="private")
        clear.click(lambda: ("", []), None, [question, chatbot], api_visibility="private")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def launch_options(host: str, port: int) -> dict[str, Any]:
    """The launch settings that keep a local health app private."""
    return {
        "server_name": host,
        "server_port": port,
        "share": False,
        "footer_links": [],
        "run_history": False,
        "enable_monitoring": False,
        "mcp_server": False,
        "show_error": False,
    }


def serve(engine: Engine, host: str = "127.0.0.1", port: int = 7860, corpus_dir: Path | None = None) -> None:
    """Run the chat until interrupted."""
    build_app(engine).launch(**launch_options(host, port))

"""The chat's own CSS and the two small scripts its events run in the browser.

Kept as Python strings, not files, so that they ship with the package wherever it is installed.
The classes (`cb-*`) are the ones `chatbot.present` writes into the answers; the selectors are
scoped to the chat's elements, so the staff page (launched with the same options) is unaffected.
"""

from __future__ import annotations

# Colours: NHS care cards (red #d5281b, dark grey #212b32), text at 4.5:1 or more on its background.
CSS = """
#chatbot .cb-lead { font-size: 1.15em; line-height: 1.5; margin: 0 0 .6em; }
#chatbot mark.cb-hl { background: #fff3a3; color: #1f2933; padding: 0 .15em;
  box-shadow: inset 0 -2px 0 #d4a300; }
#chatbot blockquote.cb-passage { margin: 0 0 .4em; padding: .1em 0 .1em .9em;
  border-left: 4px solid #aab7c4; }
#chatbot blockquote.cb-passage p { margin: .4em 0; }
#chatbot .cb-cite { margin: 0 0 .4em; font-size: .95em; color: #3e4c59; }
#chatbot details.cb-more { margin: .8em 0; border-top: 1px solid #cbd2d9; padding-top: .4em; }
#chatbot details.cb-more > summary { cursor: pointer; font-weight: 600; padding: .4em 0;
  min-height: 24px; }
#chatbot .cb-more-passage { margin-top: .6em; }
#chatbot .cb-sr, #cb-announce { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
#chatbot .cb-alert { border: 4px solid #d5281b; border-radius: 4px; margin: 0 0 .5em;
  background: #ffffff; color: #212b32; }
#chatbot .cb-alert:focus { outline: 3px solid #212b32; outline-offset: 3px; }
#chatbot .cb-alert .cb-alert-title { margin: 0; padding: .5em .8em; background: #d5281b;
  color: #ffffff; font-size: 1.2em; line-height: 1.3; }
#chatbot .cb-alert .cb-alert-body { padding: .3em .8em; }
#chatbot .cb-alert .cb-alert-body p { margin: .5em 0; font-size: 1.05em; }
/* The card's text colours win over the page's, dark mode included. */
#chatbot .cb-alert .cb-alert-body, #chatbot .cb-alert .cb-alert-body p { color: #212b32 !important; }
#chatbot .cb-alert-emergency { border-color: #d5281b; }
/* Dark mode (the reader's system setting): the card keeps its own colours; the citation and its
   link lighten, at 4.5:1 or more on Gradio's dark bubble (#18181b). */
.dark #chatbot .cb-cite { color: #d1d5db; }
.dark #chatbot .cb-cite a { color: #93c5fd; }
#chatbot .cb-alert-emergency .cb-alert-body { background: #212b32; }
#chatbot .cb-alert-emergency .cb-alert-body, #chatbot .cb-alert-emergency .cb-alert-body p {
  color: #ffffff !important; }
#chatbot .message:has(.cb-alert) { background: transparent; border: 0; padding: 0; }
#chatbot .message-wrap .prose.chatbot.md, #chatbot .thought-group .message-content { opacity: 1; }
#chatbot .message-buttons button, #chatbot .icon-button-wrapper button {
  min-width: 24px; min-height: 24px; }
/* One focus ring for every control, 3 px of blue at 6.7:1 on white, offset so it sits on the
   page rather than on a coloured button (Gradio's own is a pale shadow under 3:1 on inputs). */
.gradio-container :is(a, button, summary, [role=button], [role=tab], [tabindex], input, textarea,
  select):focus-visible { outline: 3px solid #1d4ed8 !important; outline-offset: 2px;
  transition: none !important; }  /* at once: Gradio's buttons fade their colours in */
#ask { background: #c2410c; border-color: #c2410c; color: #ffffff; }
#ask:hover { background: #9a3412; }
@media (max-width: 640px) {
  #chatbot, #chatbot .wrapper, #chatbot .bubble-wrap {
    height: auto !important; max-height: none !important; overflow: visible !important; }
  #chatbot .message-row.bubble { margin-left: 0 !important; margin-right: 0 !important;
    max-width: 100% !important; }
  #chatbot .bubble .message, #chatbot .message-row .flex-wrap { max-width: 100% !important; }
  .gradio-container.gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
}
"""

# The page's script (inline, as the Content-Security-Policy allows; Gradio's `js=` on an event
# is evaluated from a string, which the policy refuses). It watches the chat and
# - when a new answer arrives, brings its start into view (Gradio's own autoscroll is off: it
#   scrolls to the end): in the chat's scroll box on a wide screen, in the page on a phone, also
#   when the reader had scrolled up; an alert card is scrolled to and focused;
# - says the new answer to screen readers in a live region of its own: the card's urgency and
#   message, or the lead sentence and its citation, or the first line; Gradio's own live region
#   (the whole conversation log) is turned off, since it would read every passage;
# - drops the aria-label Gradio gives each message (its raw HTML), so its text is what is read;
# - when the reason panel opens (after a dislike), moves focus into it.
# The new answer is the row after the last question; it lands once per question.
SCRIPT = r"""
(() => {
  let landedFor = 0;
  let panelOpen = false;
  const scroller = (el, chat) => {
    for (let e = el.parentElement; e && e !== chat.parentElement; e = e.parentElement) {
      const s = getComputedStyle(e).overflowY;
      if ((s === 'auto' || s === 'scroll') && e.scrollHeight > e.clientHeight) return e;
    }
    return null;
  };
  const land = (chat) => {
    const rows = Array.from(chat.querySelectorAll('.message-row'));
    const asked = rows.filter((r) => r.classList.contains('user-row')).length;
    if (asked < landedFor) landedFor = asked;  // the conversation was cleared
    if (asked === landedFor) return;
    const last = rows.map((r) => r.classList.contains('user-row')).lastIndexOf(true);
    const row = rows.slice(last + 1).find((r) => r.classList.contains('bot-row'));
    if (!row || !row.querySelector('.md')) return;  // not rendered yet
    landedFor = asked;
    const alert = row.querySelector('[role=alert]');
    const target = alert || row;
    const box = scroller(target, chat);
    if (box) {
      box.scrollTop += target.getBoundingClientRect().top - box.getBoundingClientRect().top - 12;
      chat.scrollIntoView({ block: 'nearest' });
    } else {
      window.scrollTo({ top: window.scrollY + target.getBoundingClientRect().top - 8 });
    }
    if (alert) {
      alert.setAttribute('tabindex', '-1');
      alert.focus({ preventScroll: true });
    }
    announce(chat, spoken(row, alert));
  };
  const words = (el) => (el ? el.textContent.replace(/\s+/g, ' ').trim() : '');
  const spoken = (row, alert) => {
    if (alert) {  // its heading and its message, each a sentence
      const title = words(alert.querySelector('.cb-alert-title'));
      return `${title.replace(/[.:]?$/, '.')} ${words(alert.querySelector('.cb-alert-body'))}`;
    }
    const lead = row.querySelector('.cb-lead');
    if (lead) {  // what comes before it too ("the article does not give a dose..."), but not
      // the italic "Searched for" line
      const siblings = Array.from(lead.parentElement.children);
      const before = siblings.slice(0, siblings.indexOf(lead))
        .filter((e) => e.tagName === 'P' && words(e) !== words(e.querySelector('em')))
        .map(words);
      return [...before, words(lead), words(row.querySelector('.cb-cite'))].join(' ').trim();
    }
    const first = row.querySelector('.md p, .md li');
    return words(first).slice(0, 300);
  };
  const announce = (chat, text) => {
    let region = document.getElementById('cb-announce');
    if (!region) {
      region = document.createElement('div');
      region.id = 'cb-announce';
      region.setAttribute('role', 'status');
      region.setAttribute('aria-live', 'polite');
      chat.insertAdjacentElement('afterend', region);
    }
    region.textContent = '';  // emptied first, so the same words are said again
    setTimeout(() => { region.textContent = text; }, 150);
  };
  const quiet = (chat) => {
    const log = chat.querySelector('[role=log][aria-live]');
    if (log && log.getAttribute('aria-live') !== 'off') log.setAttribute('aria-live', 'off');
    chat.querySelectorAll('[data-testid=bot][aria-label], [data-testid=user][aria-label]')
      .forEach((m) => m.removeAttribute('aria-label'));
  };
  const reason = () => {
    const panel = document.getElementById('reason-panel');
    const open = !!panel && panel.offsetParent !== null;
    if (open && !panelOpen) {
      const input = panel.querySelector('input, textarea, button');
      if (input) {
        input.focus({ preventScroll: true });
        // the whole panel in view (with a margin), once its options have their size
        setTimeout(() => {
          const r = panel.getBoundingClientRect();
          if (r.bottom > window.innerHeight - 8) window.scrollBy(0, r.bottom - window.innerHeight + 16);
          else if (r.top < 0) window.scrollBy(0, r.top - 16);
        }, 120);
      }
    }
    panelOpen = open && !!panel.querySelector('input, textarea, button');
  };
  // The Sources toggle: a named button that says whether it is open; its inner arrow button
  // (unnamed, a control inside a control) is left out of the tab order and the accessibility tree.
  const toggles = (chat) => {
    chat.querySelectorAll('.thought-group > .title[role=button]').forEach((t) => {
      const open = String(t.classList.contains('expanded'));
      if (t.getAttribute('aria-expanded') !== open) t.setAttribute('aria-expanded', open);
      const arrow = t.querySelector('.arrow');
      if (arrow && !arrow.inert) arrow.inert = true;
    });
  };
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.key === ' ' && t instanceof Element && t.matches('#chatbot .thought-group > .title[role=button]')) {
      e.preventDefault();
      t.click();
    }
  });
  let queued = false;
  const check = () => {
    queued = false;
    const chat = document.getElementById('chatbot');
    if (chat) {
      quiet(chat);
      land(chat);
      toggles(chat);
      // The example questions are buttons, not list items: a group of them.
      const examples = chat.querySelector('.examples[role=list]');
      if (examples) {
        examples.setAttribute('role', 'group');
        examples.setAttribute('aria-label', 'Example questions');
      }
    }
    reason();
  };
  const start = () => new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(check); }
  }).observe(document.body, { childList: true, subtree: true, attributes: true,
                              attributeFilter: ['class', 'style', 'hidden', 'aria-label', 'aria-live'] });
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""
HEAD = f"<script>{SCRIPT}</script>"

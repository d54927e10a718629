// The threads: a list, and for the selected one its pending interrupts (with the buttons that
// answer them), its current state, its runs and its history of checkpoints.

import * as api from './api.js';
import { badge, el, fill, pretty, short } from './dom.js';

export class Threads {
  /**
   * Draws the list into `list` and the selected thread into `detail`. `resume(thread, graph,
   * value)` answers an interrupt; `follow(thread, run)` rejoins a run; `chosen(thread)` hears
   * of each thread shown.
   */
  constructor(list, detail, { resume, follow, chosen }) {
    this.list = list;
    this.detail = detail;
    this.resume = resume;
    this.follow = follow;
    this.chosen = chosen;
    this.selected = null;
    this.threads = [];
    // Loads answer out of order: only the latest one's result is drawn (the list's and the
    // thread's are counted apart).
    this.loads = 0;
    this.selects = 0;
  }

  /** Reloads the list, and the selected thread. */
  async refresh() {
    const load = ++this.loads;
    const threads = await api.json('POST', 'threads/search', { limit: 50 });
    if (load !== this.loads) return;
    this.threads = threads;
    fill(
      this.list,
      this.threads.map((thread) =>
        el(
          'li',
          {},
          el(
            'button',
            {
              class: `thread${thread.thread_id === this.selected ? ' selected' : ''}`,
              'data-thread': thread.thread_id,
              onclick: () => this.select(thread.thread_id),
            },
            el('span', { class: 'thread-graph' }, thread.metadata?.graph_id ?? 'no run yet'),
            el('code', {}, short(thread.thread_id)),
            badge(thread.status),
          ),
        ),
      ),
    );
    if (this.threads.length === 0)
      this.list.replaceChildren(el('li', { class: 'muted' }, 'no threads yet'));
    if (this.selected) await this.select(this.selected);
  }

  /** Shows thread `threadId`. */
  async select(threadId) {
    this.selected = threadId;
    for (const button of this.list.querySelectorAll('.thread')) {
      button.classList.toggle('selected', button.dataset.thread === threadId);
    }
    const load = ++this.selects;
    const path = `threads/${api.segment(threadId)}`;
    const [thread, state, runs, history] = await Promise.all([
      api.json('GET', path),
      api.json('GET', `${path}/state`),
      api.json('GET', `${path}/runs?limit=20`),
      api.json('GET', `${path}/history?limit=50`),
    ]);
    if (load !== this.selects) return;
    const interrupts = Object.values(thread.interrupts ?? {}).flat();
    this.detail.dataset.thread = threadId;
    fill(
      this.detail,
      el('h3', {}, 'Thread ', el('code', {}, thread.thread_id), ' ', badge(thread.status)),
      thread.error
        ? el('p', { class: 'error' }, `${thread.error.error}: ${thread.error.message}`)
        : null,
      (this.interrupts = el('div', { class: 'interrupts' })),
      el('h4', {}, 'Current state'),
      el(
        'pre',
        { class: 'state', 'data-checkpoint': state.checkpoint?.checkpoint_id ?? '' },
        pretty(state.values),
      ),
      el('h4', {}, 'Runs'),
      runList(thread, runs, this.follow),
      el('h4', {}, 'History'),
      this.history(history),
    );
    this.thread = thread;
    this.showInterrupts(threadId, interrupts);
    this.chosen(thread);
  }

  /** Shows `interrupts` as pending on thread `threadId`, if it is the one shown. */
  showInterrupts(threadId, interrupts) {
    if (this.selected !== threadId || !this.interrupts) return;
    const graph = this.thread?.metadata?.graph_id;
    fill(
      this.interrupts,
      interrupts.length ? el('h4', {}, 'Waiting for an answer') : null,
      interrupts.map((interrupt) => this.interruptCard(threadId, graph, interrupt)),
    );
  }

  interruptCard(threadId, graph, interrupt) {
    const text = typeof interrupt.value === 'string' ? interrupt.value : pretty(interrupt.value);
    const editor = el('textarea', { class: 'edit-text', rows: 4, value: text });
    const answer = (value) => {
      card.querySelectorAll('button').forEach((button) => (button.disabled = true));
      this.resume(threadId, graph, value);
    };
    const editing = el(
      'div',
      { class: 'edit', hidden: true },
      editor,
      el(
        'button',
        { class: 'primary', 'data-action': 'send-edit', onclick: () => answer(editor.value) },
        'Resume with this text',
      ),
    );
    const card = el(
      'div',
      { class: 'interrupt', 'data-interrupt': interrupt.id },
      el('pre', { class: 'question' }, text),
      el(
        'div',
        { class: 'actions' },
        el(
          'button',
          { class: 'approve', 'data-action': 'approve', onclick: () => answer('approve') },
          'Approve',
        ),
        el(
          'button',
          { 'data-action': 'edit', onclick: () => (editing.hidden = !editing.hidden) },
          'Edit',
        ),
        el(
          'button',
          { class: 'reject', 'data-action': 'reject', onclick: () => answer('reject') },
          'Reject',
        ),
      ),
      editing,
    );
    return card;
  }

  /** The checkpoints, newest first; choosing one shows its state. */
  history(history) {
    const shown = el('pre', { class: 'checkpoint-state', hidden: true });
    const items = history.map((checkpoint) => {
      const meta = checkpoint.metadata ?? {};
      const id = checkpoint.checkpoint?.checkpoint_id;
      const button = el(
        'button',
        {
          class: 'checkpoint',
          'data-checkpoint': id,
          onclick: () => {
            for (const other of items) other.querySelector('button').classList.remove('selected');
            button.classList.add('selected');
            shown.hidden = false;
            shown.textContent = pretty(checkpoint.values);
          },
        },
        el('strong', {}, `step ${meta.step ?? '?'}`),
        el('span', { class: 'muted' }, meta.source ?? ''),
        el('code', {}, short(id)),
        el(
          'span',
          { class: 'checkpoint-nodes' },
          (meta.writers ?? []).join(', '),
          checkpoint.next?.length
            ? el('span', { class: 'muted' }, ` → ${checkpoint.next.join(', ')}`)
            : null,
        ),
      );
      return el('li', {}, button);
    });
    if (items.length === 0) return el('p', { class: 'muted' }, 'no checkpoints yet');
    return el('div', { class: 'history' }, el('ol', { class: 'checkpoints' }, items), shown);
  }
}

/** The thread's runs, newest first, each with a button that shows its timeline (live for one
 * in progress). */
function runList(thread, runs, follow) {
  if (runs.length === 0) return el('p', { class: 'muted' }, 'no runs yet');
  return el(
    'ul',
    { class: 'runs' },
    runs.map((run) =>
      el(
        'li',
        { 'data-run': run.run_id },
        el('code', {}, short(run.run_id)),
        badge(run.status),
        el('span', { class: 'muted' }, new Date(run.created_at).toLocaleTimeString()),
        el(
          'button',
          { 'data-action': 'follow', onclick: () => follow(thread.thread_id, run.run_id) },
          run.status === 'pending' || run.status === 'running' ? 'Follow' : 'Timeline',
        ),
      ),
    ),
  );
}

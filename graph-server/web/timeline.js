// A run's timeline: one bar per task, grouped by step, one row per task so parallel tasks sit
// on separate rows. Finished tasks are placed by the `started_at` and `duration` their `tasks`
// events carry; running ones by when their start arrived, and they grow until they end. A task
// that ran on a worker process (its end names the `worker`) has the worker's name beside its
// bar, inside it when it fits, and in its tooltip.

import { el, fill } from './dom.js';

/** Milliseconds from a serialized duration `{secs, nanos}`. */
export function millis(duration) {
  return duration ? duration.secs * 1000 + duration.nanos / 1e6 : 0;
}

/** The step a task id such as `3:weather` names, or null. */
function stepOf(id) {
  const match = /^(\d+):/.exec(String(id ?? ''));
  return match ? Number(match[1]) : null;
}

export class Timeline {
  /** Draws into `element`. */
  constructor(element) {
    this.element = element;
    this.reset('');
    this.end('idle');
  }

  /** Starts a new run's timeline, titled `title`. */
  reset(title) {
    this.title = title;
    this.runId = null;
    this.state = 'running';
    this.message = '';
    this.tasks = new Map();
    this.rows = new Map();
    this.steps = new Map();
    this.step = 0;
    // The run's start on this page's clock; moved earlier when a finished task shows the run
    // began before this page heard of it (a rejoined run).
    this.origin = performance.now();
    this.element.replaceChildren(
      (this.header = el('div', { class: 'timeline-header' })),
      (this.body = el('div', { class: 'timeline-body' })),
      (this.axis = el('div', { class: 'timeline-axis' })),
    );
    this.element.dataset.state = this.state;
    this.render();
  }

  /** Names the run. */
  run(runId) {
    this.runId = runId;
    this.render();
  }

  /** Takes one `tasks` event: a task's start, or its end (with `started_at`). */
  task(payload) {
    const key = `${payload.id}#${payload.attempt ?? 1}`;
    const now = performance.now() - this.origin;
    let task = this.tasks.get(key);
    if (!task) {
      const step = stepOf(payload.id) ?? this.step;
      this.step = Math.max(this.step, step);
      task = {
        key,
        name: payload.name,
        step,
        attempt: payload.attempt ?? 1,
        start: now,
        end: null,
      };
      this.tasks.set(key, task);
    }
    if ('started_at' in payload || 'duration' in payload) {
      task.start = millis(payload.started_at);
      task.end = task.start + millis(payload.duration);
      task.error = payload.error ?? null;
      task.worker = payload.worker ?? null;
      task.state = task.error ? 'failed' : 'done';
      this.origin = Math.min(this.origin, performance.now() - task.end);
    } else {
      task.state = 'running';
    }
    this.render();
  }

  /** Marks the tasks that asked the `interrupts` (ids `<task id>#<n>`) as paused. */
  paused(interrupts) {
    for (const task of this.tasks.values()) {
      const id = task.key.slice(0, task.key.lastIndexOf('#'));
      if (interrupts.some((interrupt) => String(interrupt.id).startsWith(`${id}#`)))
        task.state = 'paused';
    }
    this.render();
  }

  /** Ends the timeline: `success`, `interrupted`, `error` (with `message`) or `cancelled`. */
  end(state, message = '') {
    this.state = state;
    this.message = message;
    for (const task of this.tasks.values()) {
      if (task.state === 'running') {
        task.state = 'stopped';
        task.end = performance.now() - this.origin;
      }
    }
    this.render();
  }

  /** Redraws; while tasks run, again on every frame so their bars grow. */
  render() {
    const now = performance.now() - this.origin;
    const tasks = [...this.tasks.values()];
    const total = Math.max(1, ...tasks.map((task) => task.end ?? now));
    this.element.dataset.state = this.state;
    if (this.state === 'idle') {
      this.header.replaceChildren(
        el(
          'span',
          { class: 'muted' },
          'Start a run, or choose a run of a thread, to see its timeline.',
        ),
      );
      this.axis.hidden = true;
      return;
    }
    fill(
      this.header,
      el('strong', {}, this.title),
      this.runId ? el('span', { class: 'timeline-run' }, `run ${this.runId}`) : null,
      el('span', { class: `badge badge-${this.state}` }, this.state),
      this.message ? el('span', { class: 'timeline-message' }, this.message) : null,
    );
    for (const task of tasks) this.draw(task, now, total);
    this.axis.replaceChildren(
      el('span', {}, '0 ms'),
      el('span', {}, `${format(total / 2)}`),
      el('span', {}, `${format(total)}`),
    );
    this.axis.hidden = tasks.length === 0;
    if (this.state === 'running' && tasks.some((task) => task.state === 'running')) {
      this.frame ??= requestAnimationFrame(() => {
        this.frame = null;
        this.render();
      });
    }
  }

  /** Places one task's row and bar. */
  draw(task, now, total) {
    let row = this.rows.get(task.key);
    if (!row) {
      const name = task.attempt > 1 ? `${task.name} (attempt ${task.attempt})` : task.name;
      row = el(
        'div',
        { class: 'timeline-row' },
        el('span', { class: 'timeline-name', title: name }, name),
        el('div', { class: 'timeline-track' }, el('div', { class: 'bar', 'data-node': task.name })),
        el('span', { class: 'timeline-ms' }),
      );
      this.rows.set(task.key, row);
      this.stepGroup(task.step).append(row);
    }
    const end = task.end ?? now;
    const bar = row.querySelector('.bar');
    bar.dataset.step = task.step;
    bar.dataset.state = task.state;
    bar.style.left = `${(100 * task.start) / total}%`;
    bar.style.width = `${(100 * Math.max(0, end - task.start)) / total}%`;
    const where = task.worker ? ` on ${task.worker}` : '';
    bar.title = `${task.name}${where}${task.error ? `: ${task.error}` : ''}`;
    if (task.worker) this.label(row, task, end, total);
    row.dataset.state = task.state;
    const ms = row.querySelector('.timeline-ms');
    // A running task's time so far, marked as not final.
    ms.textContent = `${format(end - task.start)}${task.state === 'running' ? '…' : ''}`;
    if (task.error) ms.title = task.error;
  }

  /** Names the worker that ran `task` on its row's track: inside the bar when the name fits,
   * else beside it, on the side with more room. */
  label(row, task, end, total) {
    const track = row.querySelector('.timeline-track');
    let label = track.querySelector('.bar-worker');
    if (!label) {
      label = el('span', { class: 'bar-worker' });
      track.append(label);
    }
    label.textContent = task.worker;
    row.querySelector('.bar').dataset.worker = task.worker;
    const [from, to] = [(100 * task.start) / total, (100 * end) / total];
    const width = track.clientWidth;
    const needed = label.offsetWidth + 8;
    const [before, inside, after] = [from, to - from, 100 - to].map((pct) => (pct * width) / 100);
    const place =
      inside >= needed ? 'inside' : after >= needed || after >= before ? 'after' : 'before';
    label.dataset.place = place;
    label.style.left = place === 'before' ? '' : `calc(${place === 'inside' ? from : to}% + 4px)`;
    label.style.right = place === 'before' ? `calc(${100 - from}% + 4px)` : '';
  }

  /** The rows of step `step`, made in step order. */
  stepGroup(step) {
    let group = this.steps.get(step);
    if (!group) {
      group = el(
        'div',
        { class: 'timeline-step', 'data-step': step },
        el('div', { class: 'timeline-step-label' }, `step ${step}`),
      );
      this.steps.set(step, group);
      const later = [...this.steps.entries()]
        .filter(([other]) => other > step)
        .sort(([a], [b]) => a - b);
      this.body.insertBefore(group, later.length ? later[0][1] : null);
    }
    return group;
  }
}

function format(ms) {
  return ms >= 1000
    ? `${(ms / 1000).toFixed(2)} s`
    : ms >= 10
      ? `${Math.round(ms)} ms`
      : `${ms.toFixed(2)} ms`;
}

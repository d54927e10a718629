// The page: wires the graphs, the run form, the live timeline and the threads together.

import * as api from './api.js';
import { el, pretty, short } from './dom.js';
import { showGraphs } from './graphs.js';
import { events } from './sse.js';
import { Threads } from './threads.js';
import { Timeline } from './timeline.js';

/** What a run streams: the tasks for the timeline, values and updates for state and interrupts. */
const STREAM_MODE = ['tasks', 'values', 'updates'];

const $ = (selector) => document.querySelector(selector);
const timeline = new Timeline($('#timeline'));
const threads = new Threads($('#thread-list'), $('#thread-detail'), {
  resume,
  follow: rejoin,
  chosen: (thread) => {
    const button = $('#run-on-thread');
    button.hidden = false;
    button.textContent = `Run on thread ${short(thread.thread_id)}`;
  },
});
// The stream the timeline shows; a newer one replaces it.
let watching = null;

api.onKeyNeeded(askForKey);
$('#forget-key').onclick = () => {
  api.forgetKey();
  location.reload();
};
$('#run-form').onsubmit = (event) => {
  event.preventDefault();
  startRun(event.submitter?.id === 'run-on-thread').catch(report);
};
$('#refresh').onclick = () => threads.refresh().catch(report);

main().catch(report);

async function main() {
  const assistants = await showGraphs($('#graphs'));
  $('#run-graph').replaceChildren(
    ...assistants.map((a) => el('option', { value: a.graph_id }, a.graph_id)),
  );
  await threads.refresh();
  showKeyState();
}

/** Starts a run of the chosen graph with the typed input, on a new thread or the chosen one. */
async function startRun(onChosenThread) {
  $('#run-error').textContent = '';
  const graph = $('#run-graph').value;
  let input;
  try {
    input = JSON.parse($('#run-input').value || '{}');
  } catch (error) {
    $('#run-error').textContent = `The input is not JSON: ${error.message}`;
    return;
  }
  const threadId = onChosenThread
    ? threads.selected
    : (await api.json('POST', 'threads', { metadata: { graph_id: graph } })).thread_id;
  await stream(threadId, { assistant_id: graph, input }, `${graph} with ${JSON.stringify(input)}`);
}

/** Answers an interrupt: a new streamed run resuming thread `threadId` with `value`. */
function resume(threadId, graph, value) {
  const body = { assistant_id: graph, command: { resume: value } };
  stream(threadId, body, `${graph} resumed with ${JSON.stringify(value)}`).catch(report);
}

/** Starts a run on a thread and shows its events as they arrive. */
async function stream(threadId, body, title) {
  const watch = replaceWatch();
  threads.selected = threadId;
  const response = await api.request(
    'POST',
    `threads/${api.segment(threadId)}/runs/stream`,
    { ...body, stream_mode: STREAM_MODE },
    watch.signal,
  );
  threads.refresh().catch(report);
  await show(response, threadId, title, watch);
}

/**
 * Rejoins run `runId` of thread `threadId`: its events from the first, while the server keeps
 * them (a while after the run ends), then live while it goes on.
 */
function rejoin(threadId, runId) {
  const watch = replaceWatch();
  const path = `threads/${api.segment(threadId)}/runs/${api.segment(runId)}/stream`;
  api
    .request('GET', path, undefined, watch.signal)
    .then((response) => show(response, threadId, `run ${short(runId)}, rejoined`, watch))
    .catch(report);
}

/** Stops showing the stream shown so far (its run goes on) and makes way for a new one. */
function replaceWatch() {
  watching?.abort();
  watching = new AbortController();
  return watching;
}

/** Reads a run's event stream into the timeline, the values and the interrupts. */
async function show(response, threadId, title, watch) {
  timeline.reset(title);
  $('#values').textContent = '';
  let outcome = 'success';
  let message = '';
  let runId = null;
  try {
    for await (const { event, data } of events(response)) {
      switch (event.split('|')[0]) {
        case 'metadata':
          runId = data.run_id;
          timeline.run(runId);
          break;
        case 'tasks':
          timeline.task(data);
          break;
        case 'values': {
          const { __interrupt__: interrupts, ...values } = data;
          $('#values').textContent = pretty(values);
          if (interrupts) {
            outcome = 'interrupted';
            timeline.paused(interrupts);
          }
          break;
        }
        case 'updates':
          if (data.__interrupt__) {
            outcome = 'interrupted';
            timeline.paused(data.__interrupt__);
            threads.showInterrupts(threadId, data.__interrupt__);
          }
          break;
        case 'error':
          outcome = 'error';
          message = `${data.error}: ${data.message}`;
          break;
      }
    }
  } catch (error) {
    if (watch.signal.aborted) return;
    outcome = 'error';
    message = `the stream broke: ${error.message}`;
  }
  if (watch.signal.aborted) return;
  if (runId === null) {
    outcome = 'gone';
    message = "The server no longer keeps this run's events.";
  } else {
    // The run's own status says best how it ended (a cancelled run, say).
    const path = `threads/${api.segment(threadId)}/runs/${api.segment(runId)}`;
    const run = await api.json('GET', path).catch(() => null);
    if (run && run.status !== 'pending' && run.status !== 'running') outcome = run.status;
  }
  // The timeline ends once the thread is redrawn, so what it shows is current by then.
  await threads.refresh().catch(report);
  timeline.end(outcome, message);
}

/** Asks for an API key; resolves to it, or null when the person cancels. */
function askForKey(retry) {
  const dialog = $('#key-dialog');
  $('#key-refused').hidden = !retry;
  $('#key-input').value = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        showKeyState();
        resolve(dialog.returnValue === 'ok' ? $('#key-input').value.trim() || null : null);
      },
      { once: true },
    );
  });
}

function showKeyState() {
  $('#forget-key').hidden = !api.hasKey();
}

function report(error) {
  // A stream the page stopped showing for a newer one is no error.
  if (error.name === 'AbortError') return;
  console.error(error);
  $('#run-error').textContent = String(error.message ?? error);
}

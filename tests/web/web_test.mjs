// The web view in a real browser (headless Chromium through playwright-core): the graphs are
// drawn, a run's timeline fills live, an interrupt is answered from the page, and the tasks of a
// graph served on a task queue name their worker. Run by scripts/web-test, which starts the
// server (with `briefing_on_workers` on a task queue) and sets GRAPH_SERVER_URL,
// WEB_TEST_MODULES (where playwright-core is installed) and SCREENSHOTS (where the screenshots
// go).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.WEB_TEST_MODULES, 'web-test.cjs'));
const { chromium } = require('playwright-core');

const server = process.env.GRAPH_SERVER_URL;
const key = process.env.GRAPH_API_KEY;
const screenshots = process.env.SCREENSHOTS;
mkdirSync(screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.setDefaultTimeout(15_000);
const problems = [];
let keyGiven = false;
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
page.on('console', (message) => {
  // The browser logs each refused call; before the key is given, those are expected.
  const refused = message.text().includes('status of 401');
  if (message.type() === 'error' && !(refused && !keyGiven))
    problems.push(`console error: ${message.text()}`);
});
// The page must work offline: anything it asks of another host is a failure. Once it has the
// key, every API call must carry it.
await page.route('**/*', (route) => {
  const request = route.request();
  const url = request.url();
  if (!url.startsWith(server)) {
    problems.push(`a request off the server: ${url}`);
    return route.abort();
  }
  if (keyGiven && !url.startsWith(`${server}/ui`) && request.headers()['x-api-key'] !== key) {
    problems.push(`an API call without the key: ${request.method()} ${url}`);
  }
  return route.continue();
});

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n${error.stack ?? error}`);
    await page
      .screenshot({ path: join(screenshots, 'failure.png'), fullPage: true })
      .catch(() => {});
  }
}

/** The timeline's bars: node, step, state and box. */
function bars() {
  return page.$$eval('#timeline .bar', (all) =>
    all.map((bar) => {
      const { x, y, width } = bar.getBoundingClientRect();
      return {
        node: bar.dataset.node,
        step: Number(bar.dataset.step),
        state: bar.dataset.state,
        x,
        y,
        width,
      };
    }),
  );
}

/** Starts a run of `graph` with `input` from the form. */
async function startRun(graph, input) {
  await page.selectOption('#run-graph', graph);
  await page.fill('#run-input', JSON.stringify(input));
  await page.click('#run-start');
}

/** Answers the key dialog with `answer`. */
async function giveKey(answer) {
  await page.locator('#key-dialog[open]').waitFor();
  await page.fill('#key-input', answer);
  await page.click('#key-dialog button[value="ok"]');
}

await check(
  'the page asks for the API key once, again when it is refused, and keeps it',
  async () => {
    await page.goto(`${server}/ui`);
    assert.equal(await page.locator('#key-refused').isVisible(), false);
    await giveKey('not-the-key');
    await page.locator('#key-refused').waitFor({ state: 'visible' });
    await page.screenshot({ path: join(screenshots, 'key.png') });
    await giveKey(key);
    keyGiven = true;
    await page.locator('.graph').first().waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('graph-server.api-key')), key);
    // Kept for the tab: a reload asks no more.
    await page.reload();
    await page.locator('.graph .drawing svg').first().waitFor();
    assert.equal(await page.locator('#key-dialog[open]').count(), 0);
  },
);

await check('the graphs are drawn, with their node names', async () => {
  const nodes = {
    approval: ['draft', 'review', 'send'],
    briefing: ['weather', 'news', 'calendar', 'summarize'],
  };
  for (const [graph, names] of Object.entries(nodes)) {
    const drawing = page.locator(`.graph[data-graph="${graph}"] .drawing svg`);
    await drawing.waitFor({ state: 'visible' });
    for (const name of names)
      await drawing.getByText(name, { exact: true }).waitFor({ state: 'visible' });
  }
  assert.deepEqual(await page.$$eval('.graph h3', (titles) => titles.map((t) => t.textContent)), [
    'approval',
    'briefing',
    'briefing_on_workers',
  ]);
  await page.screenshot({ path: join(screenshots, 'graphs.png'), fullPage: true });
});

await check(
  'a briefing run fills the timeline live: three parallel fetches, then the summary',
  async () => {
    // Records every bar drawn as running while the run was still streaming.
    await page.evaluate(() => {
      window.liveBars = [];
      const timeline = document.querySelector('#timeline');
      new MutationObserver(() => {
        if (timeline.dataset.state !== 'running') return;
        for (const bar of timeline.querySelectorAll('.bar[data-state="running"]')) {
          if (bar.getBoundingClientRect().width > 0) window.liveBars.push(bar.dataset.node);
        }
      }).observe(timeline, { subtree: true, childList: true, attributes: true });
    });
    await startRun('briefing', { city: 'Paris' });
    await page.locator('#timeline[data-state="success"]').waitFor();
    const live = new Set(await page.evaluate(() => window.liveBars));
    assert.ok(live.size > 0, 'no bar was drawn while the run streamed');
    for (const node of live)
      assert.ok(['weather', 'news', 'calendar', 'summarize'].includes(node), node);

    const drawn = await bars();
    assert.deepEqual(drawn.map((bar) => bar.node).sort(), [
      'calendar',
      'news',
      'summarize',
      'weather',
    ]);
    assert.ok(
      drawn.every((bar) => bar.state === 'done' && bar.width > 0),
      JSON.stringify(drawn),
    );
    const byNode = Object.fromEntries(drawn.map((bar) => [bar.node, bar]));
    const fetches = [byNode.calendar, byNode.weather, byNode.news];
    assert.equal(new Set(fetches.map((bar) => bar.step)).size, 1, 'the fetches share one step');
    assert.equal(new Set(fetches.map((bar) => bar.y)).size, 3, 'each fetch has its own row');
    assert.ok(byNode.summarize.step > byNode.news.step, 'the summary is a later step');
    assert.ok(
      byNode.summarize.y > Math.max(...fetches.map((bar) => bar.y)),
      'the summary is drawn below',
    );
    // It starts once the slowest fetch (news, 200 ms) has ended; a pixel for rounding.
    assert.ok(byNode.summarize.x >= byNode.news.x + byNode.news.width - 1, JSON.stringify(byNode));
    assert.ok(byNode.news.width > byNode.calendar.width, 'news (200 ms) outlasts calendar (80 ms)');
    const values = JSON.parse(await page.textContent('#values'));
    assert.equal(values.summary.split('\n')[0], 'Briefing for Paris:');
    // Its tasks ran in the server: no worker is named.
    assert.equal(await page.locator('#timeline .bar-worker').count(), 0);
    await page.screenshot({ path: join(screenshots, 'timeline.png'), fullPage: true });
  },
);

await check(
  'an approval run shows its pending question; Approve resumes it and sends',
  async () => {
    await startRun('approval', { to: 'Ann' });
    await page.locator('#timeline[data-state="interrupted"]').waitFor();
    const question = page.locator('.thread-detail .interrupt .question');
    await question.waitFor({ state: 'visible' });
    assert.equal(
      await question.textContent(),
      'Send this email?\nDear Ann, the invoice is attached. Pay now!!',
    );
    assert.equal(await page.textContent('.thread-detail h3 .badge'), 'interrupted');
    await page.screenshot({ path: join(screenshots, 'interrupt.png'), fullPage: true });

    await page.click('.thread-detail .interrupt button[data-action="approve"]');
    await page.locator('#timeline[data-state="success"]').waitFor();
    assert.match(
      await page.textContent('.timeline-header strong'),
      /^approval resumed with "approve"$/,
    );
    assert.deepEqual(
      (await bars()).map((bar) => bar.node),
      ['review', 'send'],
    );
    await page.waitForFunction(() => {
      const state = document.querySelector('.thread-detail pre.state');
      try {
        return JSON.parse(state.textContent).sent.length === 1;
      } catch {
        return false;
      }
    });
    const state = JSON.parse(await page.textContent('.thread-detail pre.state'));
    assert.deepEqual(state, {
      to: 'Ann',
      draft: 'Dear Ann, the invoice is attached. Pay now!!',
      decision: 'approve',
      sent: ['to Ann: Dear Ann, the invoice is attached. Pay now!!'],
    });
    assert.equal(await page.locator('.thread-detail .interrupt').count(), 0);
    assert.equal(await page.textContent('.thread-detail h3 .badge'), 'idle');
    await page.screenshot({ path: join(screenshots, 'approved.png'), fullPage: true });
  },
);

await check('Edit resumes with the edited text', async () => {
  await startRun('approval', { to: 'Bob' });
  await page.locator('#timeline[data-state="interrupted"]').waitFor();
  await page.click('.thread-detail .interrupt button[data-action="edit"]');
  const editor = page.locator('.thread-detail .interrupt .edit-text');
  assert.equal(
    await editor.inputValue(),
    'Send this email?\nDear Bob, the invoice is attached. Pay now!!',
  );
  await editor.fill('not yet');
  await page.click('.thread-detail .interrupt button[data-action="send-edit"]');
  await page.locator('#timeline[data-state="success"]').waitFor();
  assert.equal(
    await page.textContent('.timeline-header strong'),
    'approval resumed with "not yet"',
  );
  // Not approved: reviewed, and nothing sent.
  assert.deepEqual(
    (await bars()).map((bar) => bar.node),
    ['review'],
  );
  await page.waitForFunction(() =>
    document.querySelector('.thread-detail pre.state')?.textContent.includes('not yet'),
  );
  const state = JSON.parse(await page.textContent('.thread-detail pre.state'));
  assert.deepEqual(state, {
    to: 'Bob',
    draft: 'Dear Bob, the invoice is attached. Pay now!!',
    decision: 'not yet',
    sent: [],
  });
});

await check("a finished run's timeline is drawn again from its kept events", async () => {
  const thread = page.locator('.thread-list .thread:has(.thread-graph:text-is("briefing"))');
  const threadId = await thread.getAttribute('data-thread');
  await thread.click();
  const run = page.locator(`.thread-detail[data-thread="${threadId}"] .runs li`);
  const runId = await run.getAttribute('data-run');
  await run.locator('button[data-action="follow"]').click();
  await page
    .locator('.timeline-header strong', { hasText: `run ${runId.slice(-8)}, rejoined` })
    .waitFor();
  await page.locator('#timeline[data-state="success"]').waitFor();
  const drawn = await bars();
  assert.deepEqual(drawn.map((bar) => `${bar.step}:${bar.node}`).sort(), [
    '0:calendar',
    '0:news',
    '0:weather',
    '1:summarize',
  ]);
});

await check('a run on the chosen thread goes on from its state', async () => {
  // The briefing thread is the one shown.
  await page.selectOption('#run-graph', 'briefing');
  await page.fill('#run-input', JSON.stringify({ city: 'Oslo' }));
  await page.click('#run-on-thread');
  await page
    .locator('.timeline-header strong', { hasText: 'briefing with {"city":"Oslo"}' })
    .waitFor();
  await page.locator('#timeline[data-state="success"]').waitFor();
  const state = JSON.parse(await page.textContent('.thread-detail pre.state'));
  assert.equal(state.city, 'Oslo');
  assert.equal(state.sections.length, 6);
  assert.equal(state.sequential_ms, 800);
  assert.equal(await page.locator('.thread-detail .runs li').count(), 2);
});

await check("a checkpoint from the thread's history shows its state", async () => {
  const thread = page.locator('.thread-list .thread:has(.thread-graph:text-is("approval"))').last();
  const threadId = await thread.getAttribute('data-thread');
  await thread.click();
  await page.locator(`.thread-detail[data-thread="${threadId}"]`).waitFor();
  const oldest = page.locator('.thread-detail .checkpoint').last();
  await oldest.click();
  const state = JSON.parse(await page.textContent('.thread-detail .checkpoint-state'));
  assert.deepEqual(state, { to: 'Ann', draft: '', decision: '', sent: [] });
});

await check("a run on a task queue's worker names it on each task's bar", async () => {
  await startRun('briefing_on_workers', { city: 'Lima' });
  await page
    .locator('.timeline-header strong', { hasText: 'briefing_on_workers with {"city":"Lima"}' })
    .waitFor();
  await page.locator('#timeline[data-state="success"]').waitFor();
  const tracks = await page.$$eval('#timeline .timeline-track', (all) =>
    all.map((track) => {
      const bar = track.querySelector('.bar');
      const label = track.querySelector('.bar-worker');
      const box = track.getBoundingClientRect();
      const inner = label.getBoundingClientRect();
      return {
        node: bar.dataset.node,
        worker: bar.dataset.worker,
        title: bar.title,
        label: label.textContent,
        shown: inner.width > 0 && inner.left >= box.left && inner.right <= box.right,
      };
    }),
  );
  assert.deepEqual(
    tracks.map((track) => track.node),
    ['calendar', 'news', 'weather', 'summarize'],
  );
  for (const track of tracks) {
    assert.deepEqual(
      track,
      {
        node: track.node,
        worker: 'worker-a',
        title: `${track.node} on worker-a`,
        label: 'worker-a',
        shown: true,
      },
      JSON.stringify(tracks),
    );
  }
  const values = JSON.parse(await page.textContent('#values'));
  assert.equal(values.summary.split('\n')[0], 'Briefing for Lima:');
  assert.equal(values.sequential_ms, 400);
  await page.screenshot({ path: join(screenshots, 'workers.png'), fullPage: true });
  await page.locator('#timeline').screenshot({ path: join(screenshots, 'workers-timeline.png') });
});

await check(
  'the event parser reads CRLF split across chunks, comments, ids and long data',
  async () => {
    const parsed = await page.evaluate(async () => {
      const { events } = await import('./sse.js');
      const chunks = [
        ': heartbeat\r\n\r\nevent: metadata\r\ndata: {"run_id":',
        '"r1"}\r',
        '\nid: 7\r\n\r\nevent: custom\ndata: {"a":\ndata: 1}\n\nevent: values\rdata: [1]\r\r',
        'data: not json\n\n',
      ];
      const body = new ReadableStream({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      });
      const all = [];
      for await (const event of events(new Response(body))) all.push(event);
      return all;
    });
    assert.deepEqual(parsed, [
      { event: 'metadata', data: { run_id: 'r1' }, id: '7' },
      { event: 'custom', data: { a: 1 }, id: '7' },
      { event: 'values', data: [1], id: '7' },
      { event: 'message', data: 'not json', id: '7' },
    ]);
  },
);

await check('the timeline draws a failed task red and a running one growing', async () => {
  await page.evaluate(async () => {
    const { Timeline } = await import('./timeline.js');
    const box = document.createElement('div');
    box.id = 'synthetic';
    box.className = 'timeline';
    document.querySelector('main').append(box);
    const timeline = new Timeline(box);
    timeline.reset('synthetic');
    timeline.task({ id: '0:fails', name: 'fails', attempt: 1 });
    timeline.task({ id: '0:slow', name: 'slow', attempt: 1 });
    const zero = { secs: 0, nanos: 0 };
    const fiveMs = { secs: 0, nanos: 5_000_000 };
    timeline.task({
      id: '0:fails',
      name: 'fails',
      attempt: 1,
      error: 'boom',
      started_at: zero,
      duration: fiveMs,
    });
    window.syntheticTimeline = timeline;
  });
  const failed = page.locator('#synthetic .bar[data-node="fails"]');
  assert.equal(await failed.getAttribute('data-state'), 'failed');
  assert.equal(
    await failed.evaluate((bar) => getComputedStyle(bar).backgroundColor),
    'rgb(207, 52, 52)',
  );
  assert.equal(await failed.getAttribute('title'), 'fails: boom');
  assert.equal(
    await page.textContent('#synthetic .timeline-row[data-state="failed"] .timeline-ms'),
    '5.00 ms',
  );
  // The running task's bar grows past the failed one's as time passes, frame by frame.
  await page.waitForFunction(() => {
    const width = (node) =>
      document.querySelector(`#synthetic .bar[data-node="${node}"]`).getBoundingClientRect().width;
    return width('slow') > 2 * width('fails');
  });
  assert.equal(
    await page.getAttribute('#synthetic .bar[data-node="slow"]', 'data-state'),
    'running',
  );
  assert.match(await page.textContent('#synthetic .timeline-row:last-child .timeline-ms'), /…$/);
  await page.evaluate(() => window.syntheticTimeline.end('error', 'boom'));
  assert.equal(
    await page.getAttribute('#synthetic .bar[data-node="slow"]', 'data-state'),
    'stopped',
  );
  assert.equal(await page.getAttribute('#synthetic', 'data-state'), 'error');
  await page.screenshot({ path: join(screenshots, 'failed-task.png'), fullPage: true });
  await page.evaluate(() => document.querySelector('#synthetic').remove());
});

await check('the page made no errors and no request off the server', async () => {
  assert.deepEqual(problems, []);
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

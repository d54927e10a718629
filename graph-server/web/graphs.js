// The registered graphs, each drawn by mermaid when the server serves its script, and always
// listed as nodes and edges.

import * as api from './api.js';
import { el } from './dom.js';

let mermaid = null;

/** Mermaid, once its script has loaded; null when the server has none. */
function loadMermaid() {
  mermaid ??= new Promise((resolve) => {
    const script = el('script', { src: 'mermaid.min.js' });
    script.onload = () => {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'neutral' });
      resolve(window.mermaid);
    };
    script.onerror = () => resolve(null);
    document.head.append(script);
  });
  return mermaid;
}

/** Fills `element` with a card per assistant; answers the assistants. */
export async function showGraphs(element) {
  const assistants = await api.json('POST', 'assistants/search', { limit: 100 });
  const drawings = await Promise.all(
    assistants.map((assistant) =>
      api.json('GET', `assistants/${api.segment(assistant.assistant_id)}/graph`),
    ),
  );
  const cards = assistants.map((assistant, index) => card(assistant, drawings[index]));
  element.replaceChildren(...cards.map(({ element }) => element));
  const drawer = await loadMermaid();
  // One at a time: mermaid keeps global state while it renders.
  for (const { box, details, drawing, assistant } of cards) {
    if (!drawer) {
      box.replaceChildren(
        el(
          'p',
          { class: 'muted' },
          'Not drawn: the server has no mermaid script (see scripts/fetch-mermaid).',
        ),
        el('pre', { class: 'mermaid-source' }, drawing.mermaid),
      );
      details.open = true;
      continue;
    }
    try {
      const { svg } = await drawer.render(
        `drawing-${assistant.graph_id.replace(/\W/g, '_')}`,
        drawing.mermaid,
      );
      box.innerHTML = svg;
    } catch (error) {
      box.replaceChildren(
        el('p', { class: 'error' }, `Not drawn: ${error.message}`),
        el('pre', { class: 'mermaid-source' }, drawing.mermaid),
      );
    }
  }
  return assistants;
}

function card(assistant, drawing) {
  const box = el('div', { class: 'drawing' }, el('p', { class: 'muted' }, 'drawing...'));
  const nodes = drawing.nodes.filter((node) => node.type !== 'schema').map((node) => node.id);
  const edges = drawing.edges.map((edge) =>
    el(
      'li',
      {},
      `${edge.source} ${edge.conditional ? '⇢' : '→'} ${edge.target}`,
      edge.conditional ? el('span', { class: 'muted' }, ' (conditional)') : null,
    ),
  );
  const details = el(
    'details',
    {},
    el('summary', {}, `${nodes.length} nodes, ${edges.length} edges`),
    el('p', {}, el('strong', {}, 'nodes: '), nodes.join(', ')),
    el('ul', { class: 'edges' }, edges),
  );
  const element = el(
    'article',
    { class: 'graph card', 'data-graph': assistant.graph_id },
    el('h3', {}, assistant.graph_id),
    box,
    details,
  );
  return { element, box, details, drawing, assistant };
}

// Building the page's elements. Data from the server only ever becomes text, never markup.

/** An element with attributes (`class`, `data-*`, properties such as `onclick`) and children. */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') || name === 'value' || name === 'checked') element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  return fill(element, ...children);
}

/** Replaces `element`'s children, skipping null and undefined ones. */
export function fill(element, ...children) {
  element.replaceChildren(
    ...children.flat().filter((child) => child !== null && child !== undefined),
  );
  return element;
}

/** Pretty JSON. */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** The last characters of an id, enough to tell ids apart on screen (time-ordered ids share
 * their first ones). */
export function short(id) {
  return String(id ?? '').slice(-8);
}

/** A status badge: `idle`, `busy`, `interrupted`, `error`, `success`, ... */
export function badge(status) {
  return el('span', { class: `badge badge-${status}` }, status);
}

// The API client. Paths are relative to the server's root, found from the page's own address
// (the page is `<root>ui/`), so the view works wherever the server is mounted. With API keys
// on, the first refused call asks for a key; it is kept for the browser tab's session.

const KEY = 'graph-server.api-key';
const root = new URL('..', location.href);

let askForKey = async () => null;
let asking = null;

/** An API error: its status and the server's `detail`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
  }
}

/** Sets how a key is asked for: `ask(retry)` resolves to the key, or null when refused. */
export function onKeyNeeded(ask) {
  askForKey = ask;
}

/** Whether a key is kept. */
export function hasKey() {
  return sessionStorage.getItem(KEY) !== null;
}

/** Forgets the kept key. */
export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** Sends a request; answers the response, or throws an ApiError. */
export async function request(method, path, body, signal) {
  for (;;) {
    const headers = { accept: 'application/json, text/event-stream' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const key = sessionStorage.getItem(KEY);
    if (key !== null) headers['x-api-key'] = key;
    const response = await fetch(new URL(path, root), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    if (response.status === 401 && (await newKey(key))) continue;
    if (!response.ok) throw new ApiError(response.status, await detail(response));
    return response;
  }
}

/** Sends a request and decodes its JSON answer (null for an empty one). */
export async function json(method, path, body) {
  const text = await (await request(method, path, body)).text();
  return text ? JSON.parse(text) : null;
}

/** A path segment. */
export function segment(id) {
  return encodeURIComponent(id);
}

// Whether to try again after a refusal with `used`: calls refused at once share one
// question, and a call refused before another got a key just retries with it.
async function newKey(used) {
  if (sessionStorage.getItem(KEY) !== used) return true;
  asking ??= askForKey(used !== null).finally(() => {
    asking = null;
  });
  const key = await asking;
  if (!key) return false;
  sessionStorage.setItem(KEY, key);
  return true;
}

async function detail(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).detail ?? text;
  } catch {
    return text || response.statusText;
  }
}

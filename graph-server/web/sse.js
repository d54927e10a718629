// Server-sent events read from a fetch response, since EventSource cannot POST a body or send
// the key header.

/**
 * Yields each event of `response`'s body as `{event, data, id}`, `data` decoded from JSON
 * (or the raw text when it is not JSON). Lines may end in CRLF, LF or CR.
 */
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event = '';
  let data = [];
  let id = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      const end = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0)
            yield { event: event || 'message', data: decode(data.join('\n')), id };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') event = text;
        else if (field === 'data') data.push(text);
        else if (field === 'id') id = text;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function decode(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

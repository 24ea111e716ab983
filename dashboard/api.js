/* global AbortController, TextDecoderStream */
// Talking to baton serve. The token lives in sessionStorage (this tab only, gone when it
// closes) and travels only in the Authorization header: never in a URL, so it cannot leak
// through history, logs or the Referer header.
const KEY = 'baton.token';
const API = '/api/v1';

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  signIn(token) {
    sessionStorage.setItem(KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `request failed with status ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? 'HTTP_' + status;
  }
}

const listeners = new Set();
/** Called with each 401: the token was revoked or mistyped. */
export function onUnauthorized(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export async function api(path, { method = 'GET', body, token = session.token } = {}) {
  const res = await fetch(API + path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text === '' ? null : JSON.parse(text);
  if (!res.ok) {
    if (res.status === 401) for (const fn of listeners) fn();
    throw new ApiError(res.status, json);
  }
  return json;
}

/**
 * Follows the server-sent event feed with a streaming fetch (EventSource cannot send an
 * Authorization header). Reconnects after a drop, resuming from the last event id.
 * Returns a function that stops it.
 */
export function follow(query, onMessage) {
  const controller = new AbortController();
  let lastId = null;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(`${API}/dashboard/events${query}`, {
          headers: {
            Authorization: `Bearer ${session.token}`,
            Accept: 'text/event-stream',
            ...(lastId !== null && { 'Last-Event-ID': lastId }),
          },
          signal: controller.signal,
        });
        if (res.status === 401) {
          for (const fn of listeners) fn();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`event stream: ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const message = parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (message.id !== null) lastId = message.id;
            if (message.event !== 'ping') onMessage(message);
          }
        }
      } catch {
        // A dropped connection: reconnect below, resuming after the last event seen.
        if (controller.signal.aborted) return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
  return () => controller.abort();
}

function parse(block) {
  const message = { event: 'message', id: null, data: null };
  const data = [];
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const field = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') message.event = value;
    else if (field === 'id') message.id = value;
    else if (field === 'data') data.push(value);
  }
  message.data = data.length === 0 ? null : JSON.parse(data.join('\n'));
  return message;
}

/** Calls `fn` at most once per `ms`, after the last call: many events, one refetch. */
export function debounce(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

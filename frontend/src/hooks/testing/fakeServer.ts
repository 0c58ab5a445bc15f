/**
 * The network boundary for page tests: a fake `fetch` answering from routes the test declares,
 * recording every call. Nothing above `fetch` is mocked.
 *
 * IMPORT THIS MODULE FIRST in a test file: openapi-fetch captures `globalThis.fetch` and
 * `globalThis.Request` when src/api/client.ts creates the client, so they are replaced here,
 * at import time. `Request` is widened to accept the relative URLs a browser would resolve
 * against the page (Node's Request needs absolute ones).
 */

export interface FakeCall {
  method: string;
  url: URL;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

export interface FakeReply {
  status?: number;
  body?: unknown;
}

type Handler = (call: FakeCall & { params: Record<string, string> }) => FakeReply | Response | Promise<FakeReply | Response>;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const NativeRequest = globalThis.Request;

class PageRelativeRequest extends NativeRequest {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const resolved = typeof input === "string" ? new URL(input, window.location.href).href : input;
    super(resolved, init);
  }
}

function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, (_, key: string) => {
    keys.push(key);
    return "([^/]+)";
  });
  return { pattern: new RegExp(`^${source}$`), keys };
}

export function jsonResponse(body: unknown, status = 200): Response {
  if (status === 204) return new Response(null, { status });
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

class FakeServer {
  private routes: Route[] = [];
  readonly calls: FakeCall[] = [];
  /** When true every request fails like a dropped connection. */
  offline = false;

  /** Answer `method path` (`:name` segments are parameters); later routes win over earlier ones. */
  on(method: string, path: string, handler: Handler | FakeReply): this {
    const { pattern, keys } = compile(path);
    const fn: Handler = typeof handler === "function" ? handler : () => handler;
    this.routes.unshift({ method: method.toUpperCase(), pattern, keys, handler: fn });
    return this;
  }

  /** Calls matching `method path` (path without the query string). */
  callsTo(method: string, path: string): FakeCall[] {
    const { pattern } = compile(path);
    return this.calls.filter((c) => c.method === method.toUpperCase() && pattern.test(c.path));
  }

  reset(): void {
    this.routes = [];
    this.calls.length = 0;
    this.offline = false;
  }

  async handle(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = input instanceof NativeRequest ? input : new PageRelativeRequest(input, init);
    const url = new URL(request.url);
    const text = request.body ? await request.clone().text() : "";
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep the text */
    }
    const call: FakeCall = {
      method: request.method,
      url,
      path: url.pathname,
      query: url.searchParams,
      body,
      headers: request.headers,
    };
    this.calls.push(call);
    if (this.offline) throw new TypeError("Failed to fetch");
    for (const route of this.routes) {
      if (route.method !== call.method) continue;
      const match = route.pattern.exec(call.path);
      if (!match) continue;
      const params = Object.fromEntries(route.keys.map((key, i) => [key, decodeURIComponent(match[i + 1])]));
      const reply = await route.handler({ ...call, params });
      if (reply instanceof Response) return reply;
      return jsonResponse(reply.body ?? {}, reply.status ?? 200);
    }
    return jsonResponse({ message: `No fake route for ${call.method} ${call.path}`, extra: {} }, 404);
  }
}

export const server = new FakeServer();

globalThis.Request = PageRelativeRequest as typeof Request;
globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => server.handle(input, init)) as typeof fetch;

/** A page envelope as the server's list endpoints return it. */
export function page<T>(results: T[], count = results.length) {
  return { count, next: null, previous: null, results };
}

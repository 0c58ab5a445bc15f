/**
 * The typed API client. Types come from the server's OpenAPI schema (`npm run gen:api` writes
 * src/api/schema.d.ts from var/openapi.json; `make` runs it before every build): never hand-written.
 * Auth: the Django session cookie; unsafe methods carry the CSRF token from the `csrftoken` cookie.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";

export function csrfToken(): string {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
      request.headers.set("X-CSRFToken", csrfToken());
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

export type { paths };

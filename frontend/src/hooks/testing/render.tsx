/**
 * Minimal DOM test helpers (no testing-library): render the real <App/> at a URL, wait for the
 * DOM to settle, and interact like a user (click, type, choose) inside React's `act`.
 */
import { act } from "react";
import { createRoot, type Root } from "react-dom/client";
import { App } from "../../App";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let mounted: { root: Root; container: HTMLElement } | null = null;

export async function renderApp(path: string): Promise<HTMLElement> {
  window.history.pushState({}, "", path);
  const container = document.createElement("div");
  document.body.appendChild(container);
  const root = createRoot(container);
  await act(async () => root.render(<App />));
  mounted = { root, container };
  return container;
}

export function cleanup(): void {
  if (!mounted) return;
  const { root, container } = mounted;
  act(() => root.unmount());
  container.remove();
  mounted = null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Retry `check` until it returns a truthy value without throwing (default 3 s). */
export async function waitFor<T>(check: () => T, timeoutMs = 3000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = new Error("waitFor: condition never held");
  for (;;) {
    try {
      const value = check();
      if (value) return value as NonNullable<T>;
      lastError = new Error("waitFor: condition returned a falsy value");
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw lastError;
    await act(async () => {
      await sleep(15);
    });
  }
}

export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T | null {
  return document.querySelector<T>(`[data-testid="${id}"]`);
}

/** The first element of `selector` whose text contains `text`. */
export function byText<T extends HTMLElement = HTMLElement>(text: string, selector = "*"): T | null {
  const all = Array.from(document.querySelectorAll<T>(selector));
  return all.reverse().find((el) => el.textContent?.includes(text)) ?? null;
}

export async function click(element: Element | null): Promise<void> {
  if (!element) throw new Error("click: no element");
  await act(async () => {
    (element as HTMLElement).click();
  });
}

/** Set an input's value the way a user's typing does (React listens to the native events). */
export async function typeInto(element: Element | null, value: string): Promise<void> {
  if (!element) throw new Error("typeInto: no element");
  const input = element as HTMLInputElement | HTMLTextAreaElement;
  const proto = input instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  await act(async () => {
    Object.getOwnPropertyDescriptor(proto, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

export async function choose(element: Element | null, value: string): Promise<void> {
  if (!element) throw new Error("choose: no element");
  const select = element as HTMLSelectElement;
  await act(async () => {
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value")!.set!.call(select, value);
    select.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

export async function submit(form: Element | null): Promise<void> {
  if (!form) throw new Error("submit: no form");
  await act(async () => {
    (form as HTMLFormElement).requestSubmit();
  });
}

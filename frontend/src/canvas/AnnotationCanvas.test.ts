import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMask, maskAt } from "../model/mask";
import { AnnotationCanvas } from "./AnnotationCanvas";

/** jsdom has no 2-D context: the facade must still route input to tools and emit events. */
function pointer(type: string, x: number, y: number, init: Partial<PointerEventInit> = {}): Event {
  const Ctor = (globalThis.PointerEvent ?? MouseEvent) as typeof MouseEvent;
  const e = new Ctor(type, { clientX: x, clientY: y, button: 0, bubbles: true, cancelable: true, ...init });
  if (!("pointerId" in e) || (e as PointerEvent).pointerId === undefined) Object.defineProperty(e, "pointerId", { value: init.pointerId ?? 1 });
  return e;
}

describe("AnnotationCanvas facade", () => {
  let element: HTMLCanvasElement;
  let canvas: AnnotationCanvas;
  const frames: (() => void)[] = [];

  beforeEach(() => {
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
    element = document.createElement("canvas");
    Object.defineProperty(element, "clientWidth", { value: 200 });
    Object.defineProperty(element, "clientHeight", { value: 100 });
    element.getBoundingClientRect = () => ({ left: 0, top: 0, width: 200, height: 100, right: 200, bottom: 100, x: 0, y: 0, toJSON: () => ({}) });
    document.body.appendChild(element);
    canvas = new AnnotationCanvas(element, { requestFrame: (cb) => frames.push(cb), devicePixelRatio: () => 1, keyTarget: null });
  });

  afterEach(() => {
    canvas.destroy();
    element.remove();
    vi.restoreAllMocks();
    frames.length = 0;
  });

  const flush = () => {
    while (frames.length) frames.shift()!();
  };

  it("emits ready once the frame's image is there, once per frame", () => {
    const ready = vi.fn();
    canvas.on("ready", ready);
    canvas.setFrame({ key: "1", width: 100, height: 50, image: null });
    flush();
    expect(ready).not.toHaveBeenCalled();
    const image = document.createElement("img");
    canvas.setFrame({ key: "1", width: 100, height: 50, image });
    flush();
    canvas.setInstances([], null);
    flush();
    expect(ready).toHaveBeenCalledTimes(1);
    expect(ready).toHaveBeenCalledWith({ frameKey: "1", width: 100, height: 50 });
  });

  it("turns a brush drag on screen into an edit in frame pixels", () => {
    canvas.setFrame({ key: "1", width: 100, height: 50, image: null });
    // 200×100 canvas, 100×50 frame: scale 1.96, centred.
    const view = canvas.getView();
    expect(view.scale).toBeCloseTo(1.96);
    canvas.setTool("brush");
    canvas.setOptions({ brushSize: 4 });
    const edits: unknown[] = [];
    canvas.on("edit", (e) => edits.push(e));
    const sx = (fx: number) => fx * view.scale + view.offsetX;
    const sy = (fy: number) => fy * view.scale + view.offsetY;
    element.dispatchEvent(pointer("pointerdown", sx(10), sy(10)));
    element.dispatchEvent(pointer("pointermove", sx(40), sy(10)));
    element.dispatchEvent(pointer("pointerup", sx(40), sy(10)));
    expect(edits).toHaveLength(1);
    const edit = edits[0] as { tool: string; changes: { instanceId: string | null; mask: ReturnType<typeof createMask> }[] };
    expect(edit.tool).toBe("brush");
    expect(edit.changes[0].instanceId).toBeNull();
    expect([edit.changes[0].mask.width, edit.changes[0].mask.height]).toEqual([100, 50]);
    expect(maskAt(edit.changes[0].mask, 25, 10)).toBe(true);
    expect(maskAt(edit.changes[0].mask, 25, 30)).toBe(false);
  });

  it("pans with the middle button and zooms with the wheel instead of drawing", () => {
    canvas.setFrame({ key: "1", width: 100, height: 50, image: null });
    canvas.setTool("brush");
    const edits = vi.fn();
    const views = vi.fn();
    canvas.on("edit", edits);
    canvas.on("viewchange", views);
    const before = canvas.getView();
    element.dispatchEvent(pointer("pointerdown", 50, 50, { button: 1 }));
    element.dispatchEvent(pointer("pointermove", 70, 40, { button: 1 }));
    element.dispatchEvent(pointer("pointerup", 70, 40, { button: 1 }));
    expect(edits).not.toHaveBeenCalled();
    expect(canvas.getView().offsetX).toBeCloseTo(before.offsetX + 20);
    expect(canvas.getView().offsetY).toBeCloseTo(before.offsetY - 10);
    element.dispatchEvent(new WheelEvent("wheel", { deltaY: -100, clientX: 100, clientY: 50, cancelable: true }));
    expect(canvas.getView().scale).toBeGreaterThan(before.scale);
    expect(views).toHaveBeenCalled();
  });

  it("reports the proposal under the pointer for provenance, and selects with the select tool", () => {
    canvas.setFrame({ key: "1", width: 100, height: 50, image: null });
    const m = createMask(100, 50);
    m.data.fill(1, 0, 50 * 100); // everything
    canvas.setProposals([{ mask: m, color: "#ff0000" }]);
    canvas.setInstances([{ id: "a", mask: m, color: "#00ff00", visible: true }], null);
    canvas.setTool("select");
    const hovers: unknown[] = [];
    const selects: unknown[] = [];
    canvas.on("hover", (h) => hovers.push(h));
    canvas.on("select", (s) => selects.push(s));
    element.dispatchEvent(pointer("pointermove", 100, 50));
    expect(hovers.at(-1)).toMatchObject({ proposalIndex: 0, instanceId: "a" });
    canvas.setOverlay({ visible: false });
    element.dispatchEvent(pointer("pointerdown", 100, 50));
    element.dispatchEvent(pointer("pointerup", 100, 50));
    expect(selects).toEqual([{ instanceId: "a" }]);
  });

  it("gives keys to the active tool first (polygon Enter closes)", () => {
    canvas.setFrame({ key: "1", width: 100, height: 50, image: null });
    canvas.setTool("polygon");
    const edits = vi.fn();
    canvas.on("edit", edits);
    const v = canvas.getView();
    for (const [x, y] of [
      [10, 10],
      [30, 10],
      [30, 30],
    ]) {
      element.dispatchEvent(pointer("pointerdown", x * v.scale + v.offsetX, y * v.scale + v.offsetY));
      element.dispatchEvent(pointer("pointerup", x * v.scale + v.offsetX, y * v.scale + v.offsetY));
    }
    const key = { key: "Enter", ctrlKey: false, metaKey: false, shiftKey: false, altKey: false };
    expect(canvas.handleKey(key)).toBe(true);
    expect(edits).toHaveBeenCalledTimes(1);
    expect(canvas.handleKey(key)).toBe(false);
  });
});

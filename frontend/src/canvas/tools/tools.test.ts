import { describe, expect, it } from "vitest";
import type { MaskChange } from "../../model/frameDoc";
import { createMask, maskArea, maskAt, paintDisc, type Mask } from "../../model/mask";
import { createBrushTool, createEraserTool } from "./brush";
import { PolygonTool } from "./polygon";
import { SamClickTool } from "./samClick";
import { SelectTool } from "./select";
import type { SamPrompt, ToolContext, ToolInstance, ToolPointer } from "./types";

const W = 64;
const H = 48;

/** A ToolContext over a plain list of instances, recording what the tool reports. */
function context(instances: ToolInstance[] = [], selectedId: string | null = null, scale = 2) {
  const log = { commits: [] as MaskChange[][], previews: 0, prompts: [] as SamPrompt[], selects: [] as (string | null)[] };
  const ctx: ToolContext & { selectedId: string | null } = {
    frameWidth: W,
    frameHeight: H,
    options: { brushSize: 6, samNegative: false },
    view: { scale, offsetX: 0, offsetY: 0 },
    selectedId,
    selected() {
      return instances.find((i) => i.id === this.selectedId) ?? null;
    },
    instances: () => instances,
    preview: () => {
      log.previews++;
    },
    commit: (changes) => log.commits.push(changes),
    samPrompt: (p) => log.prompts.push(p),
    select: (id) => log.selects.push(id),
    redraw: () => undefined,
  };
  return { ctx, log };
}

/** A pointer at frame (x, y) (screen = frame × scale). */
function at(x: number, y: number, extra: Partial<ToolPointer> = {}, scale = 2): ToolPointer {
  return { x, y, sx: x * scale, sy: y * scale, button: 0, shiftKey: false, altKey: false, ctrlKey: false, metaKey: false, ...extra };
}

function disc(x: number, y: number, r: number): Mask {
  const m = createMask(W, H);
  paintDisc(m, { x, y }, r, 1);
  return m;
}

describe("brush", () => {
  it("paints a stroke at frame resolution into a new instance when nothing is selected", () => {
    const { ctx, log } = context();
    const brush = createBrushTool();
    brush.pointerDown(at(10, 10), ctx);
    brush.pointerMove(at(30, 10), ctx);
    brush.pointerUp(at(30, 10), ctx);
    expect(log.previews).toBeGreaterThan(0);
    expect(log.commits).toHaveLength(1);
    const [change] = log.commits[0];
    expect(change.instanceId).toBeNull();
    expect([change.mask.width, change.mask.height]).toEqual([W, H]);
    for (let x = 10; x < 30; x++) expect(maskAt(change.mask, x, 10)).toBe(true);
    expect(maskAt(change.mask, 10, 20)).toBe(false);
  });

  it("adds to the selected instance without modifying its current mask", () => {
    const original = disc(40, 30, 4);
    const { ctx, log } = context([{ id: "a", mask: original }], "a");
    const brush = createBrushTool();
    brush.pointerDown(at(10, 10), ctx);
    brush.pointerUp(at(10, 10), ctx);
    const [change] = log.commits[0];
    expect(change.instanceId).toBe("a");
    expect(maskAt(change.mask, 40, 30)).toBe(true);
    expect(maskAt(change.mask, 10, 10)).toBe(true);
    expect(maskAt(original, 10, 10)).toBe(false);
  });

  it("commits nothing for a stroke that changed no pixel", () => {
    const full = createMask(W, H);
    full.data.fill(1);
    const { ctx, log } = context([{ id: "a", mask: full }], "a");
    const brush = createBrushTool();
    brush.pointerDown(at(10, 10), ctx);
    brush.pointerUp(at(12, 10), ctx);
    expect(log.commits).toHaveLength(0);
  });
});

describe("eraser", () => {
  it("erases from the selected instance only", () => {
    const a = disc(20, 20, 8);
    const b = disc(24, 20, 8);
    const { ctx, log } = context(
      [
        { id: "a", mask: a },
        { id: "b", mask: b },
      ],
      "a",
    );
    const eraser = createEraserTool();
    eraser.pointerDown(at(22, 20), ctx);
    eraser.pointerUp(at(22, 20), ctx);
    expect(log.commits[0].map((c) => c.instanceId)).toEqual(["a"]);
    const erased = log.commits[0][0].mask;
    expect(maskAt(erased, 22, 20)).toBe(false);
    expect(maskArea(erased)).toBeLessThan(maskArea(a));
  });

  it("erases from every visible instance it touches when nothing is selected", () => {
    const a = disc(20, 20, 8);
    const b = disc(24, 20, 8);
    const far = disc(55, 40, 3);
    const { ctx, log } = context([
      { id: "a", mask: a },
      { id: "b", mask: b },
      { id: "far", mask: far },
    ]);
    const eraser = createEraserTool();
    eraser.pointerDown(at(22, 20), ctx);
    eraser.pointerUp(at(22, 20), ctx);
    expect(log.commits[0].map((c) => c.instanceId).sort()).toEqual(["a", "b"]);
  });
});

describe("polygon", () => {
  it("clicks vertices, Enter closes and fills into a new instance", () => {
    const { ctx, log } = context();
    const poly = new PolygonTool();
    for (const [x, y] of [
      [10, 10],
      [30, 10],
      [30, 20],
      [10, 20],
    ]) {
      poly.pointerDown(at(x, y), ctx);
      poly.pointerUp(at(x, y), ctx);
    }
    expect(poly.vertices).toHaveLength(4);
    expect(poly.key({ key: "Enter", ctrlKey: false, metaKey: false, shiftKey: false, altKey: false }, ctx)).toBe(true);
    expect(log.commits).toHaveLength(1);
    expect(log.commits[0][0].instanceId).toBeNull();
    expect(maskArea(log.commits[0][0].mask)).toBe(20 * 10);
    expect(poly.vertices).toHaveLength(0);
  });

  it("a double-click closes without adding duplicate vertices; clicking the first vertex closes too", () => {
    const { ctx, log } = context();
    const poly = new PolygonTool();
    poly.pointerDown(at(0, 0), ctx);
    poly.pointerDown(at(20, 0), ctx);
    poly.pointerDown(at(20, 20), ctx);
    poly.pointerDown(at(20, 20), ctx); // second click of the double-click
    expect(poly.vertices).toHaveLength(3);
    poly.doubleClick(at(20, 20), ctx);
    expect(log.commits).toHaveLength(1);
    expect(maskArea(log.commits[0][0].mask)).toBe(210); // triangle below the diagonal, centres strictly inside: 20·21/2

    poly.pointerDown(at(40, 10), ctx);
    poly.pointerDown(at(50, 10), ctx);
    poly.pointerDown(at(50, 20), ctx);
    poly.pointerDown(at(40.5, 10.5), ctx); // within 8 screen px of the first vertex
    expect(log.commits).toHaveLength(2);
  });

  it("Escape cancels, Backspace removes the last vertex, fewer than 3 vertices fill nothing", () => {
    const { ctx, log } = context();
    const poly = new PolygonTool();
    const key = (k: string) => poly.key({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false }, ctx);
    poly.pointerDown(at(1, 1), ctx);
    poly.pointerDown(at(9, 1), ctx);
    poly.pointerDown(at(9, 9), ctx);
    expect(key("Backspace")).toBe(true);
    expect(poly.vertices).toHaveLength(2);
    expect(key("Escape")).toBe(true);
    expect(poly.vertices).toHaveLength(0);
    expect(key("Escape")).toBe(false); // nothing to cancel: the page may use the key
    poly.pointerDown(at(1, 1), ctx);
    poly.pointerDown(at(9, 1), ctx);
    key("Enter");
    expect(log.commits).toHaveLength(0);
  });

  it("fills into the selected instance (union)", () => {
    const { ctx, log } = context([{ id: "a", mask: disc(50, 40, 3) }], "a");
    const poly = new PolygonTool();
    poly.pointerDown(at(0, 0), ctx);
    poly.pointerDown(at(10, 0), ctx);
    poly.pointerDown(at(10, 10), ctx);
    poly.close(ctx);
    const [change] = log.commits[0];
    expect(change.instanceId).toBe("a");
    expect(maskAt(change.mask, 50, 40)).toBe(true);
    expect(maskAt(change.mask, 8, 2)).toBe(true);
  });
});

describe("SAM click", () => {
  it("sends positive and negative points (toggle, Alt, Shift, right button) and boxes", () => {
    const { ctx, log } = context();
    const sam = new SamClickTool();
    const click = (x: number, y: number, extra: Partial<ToolPointer> = {}) => {
      sam.pointerDown(at(x, y, extra), ctx);
      sam.pointerUp(at(x, y, extra), ctx);
    };
    click(10, 10);
    expect(log.prompts[0]).toEqual({ points: [{ x: 10, y: 10, positive: true }], box: null, instanceId: null });
    click(20, 10, { altKey: true });
    click(21, 10, { shiftKey: true });
    click(22, 10, { button: 2 });
    (ctx.options as { samNegative: boolean }).samNegative = true;
    click(23, 10);
    expect(log.prompts.at(-1)!.points.map((p) => p.positive)).toEqual([true, false, false, false, false]);

    sam.pointerDown(at(30, 30), ctx);
    sam.pointerMove(at(40, 35), ctx);
    sam.pointerUp(at(40, 35), ctx);
    expect(log.prompts.at(-1)!.box).toEqual([30, 30, 40, 35]);
    expect(log.prompts.at(-1)!.points).toHaveLength(5); // a box keeps the points
  });

  it("keeps prompting the instance created from its first answer; another selection starts afresh", () => {
    const { ctx, log } = context([
      { id: "new-1", mask: disc(5, 5, 2) },
      { id: "other", mask: disc(30, 30, 2) },
    ]);
    const sam = new SamClickTool();
    sam.pointerDown(at(5, 5), ctx);
    sam.pointerUp(at(5, 5), ctx);
    ctx.selectedId = "new-1"; // the page created the instance and selected it
    sam.selectionChanged("new-1", ctx);
    sam.pointerDown(at(6, 6), ctx);
    sam.pointerUp(at(6, 6), ctx);
    expect(log.prompts[1]).toMatchObject({ instanceId: "new-1" });
    expect(log.prompts[1].points).toHaveLength(2);

    ctx.selectedId = "other";
    sam.selectionChanged("other", ctx);
    expect(sam.prompt.points).toHaveLength(0);
    sam.pointerDown(at(7, 7), ctx);
    sam.pointerUp(at(7, 7), ctx);
    expect(log.prompts[2]).toEqual({ points: [{ x: 7, y: 7, positive: true }], box: null, instanceId: "other" });
    expect(sam.key({ key: "Escape", ctrlKey: false, metaKey: false, shiftKey: false, altKey: false }, ctx)).toBe(true);
    expect(sam.prompt.points).toHaveLength(0);
  });

  it("ignores clicks outside the frame", () => {
    const { ctx, log } = context();
    const sam = new SamClickTool();
    sam.pointerDown(at(-3, 5), ctx);
    sam.pointerUp(at(-3, 5), ctx);
    expect(log.prompts).toHaveLength(0);
  });
});

describe("select", () => {
  it("selects the topmost instance under a click, or clears the selection", () => {
    const { ctx, log } = context([
      { id: "a", mask: disc(20, 20, 8) },
      { id: "b", mask: disc(24, 20, 8) },
    ]);
    const select = new SelectTool();
    select.pointerDown(at(22, 20));
    select.pointerUp(at(22, 20), ctx);
    select.pointerDown(at(60, 5));
    select.pointerUp(at(60, 5), ctx);
    expect(log.selects).toEqual(["b", null]);
  });
});

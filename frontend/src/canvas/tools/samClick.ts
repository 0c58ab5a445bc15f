/**
 * `samClick`: prompts for the SAM endpoint. A click adds a positive point; with the negative toggle,
 * Alt, Shift or the right button a negative one; a drag draws a box. Every prompt change is sent
 * (the `samPrompt` event) with all points so far, for the selected instance (null: the page creates
 * an instance from the answer and selects it, and the tool keeps prompting for that one). Selecting
 * another instance or Escape starts a new prompt.
 */
import type { Point } from "../../model/mask";
import type { KeyLike } from "../../model/keymap";
import type { SamPoint, ToolContext, ToolHandler, ToolPointer } from "./types";

/** Screen pixels a press must move to become a box drag. */
const DRAG_THRESHOLD = 5;

export class SamClickTool implements ToolHandler {
  readonly name = "samClick" as const;
  readonly cursor = "crosshair";
  private points: SamPoint[] = [];
  private box: [number, number, number, number] | null = null;
  private target: string | null = null;
  /** A prompt for a new instance was sent: adopt the next selected instance as its target. */
  private awaitingNew = false;
  private press: { start: ToolPointer; current: Point; dragging: boolean } | null = null;

  get prompt(): { points: readonly SamPoint[]; box: [number, number, number, number] | null; target: string | null } {
    return { points: this.points, box: this.box, target: this.target };
  }

  pointerDown(p: ToolPointer, ctx: ToolContext): void {
    if (p.button !== 0 && p.button !== 2) return;
    if (!this.points.length && !this.box) this.target = ctx.selected()?.id ?? null;
    this.press = { start: p, current: { x: p.x, y: p.y }, dragging: false };
  }

  pointerMove(p: ToolPointer, ctx: ToolContext): void {
    if (this.press) {
      this.press.current = { x: p.x, y: p.y };
      if (Math.hypot(p.sx - this.press.start.sx, p.sy - this.press.start.sy) > DRAG_THRESHOLD) this.press.dragging = true;
    }
    ctx.redraw();
  }

  pointerUp(p: ToolPointer, ctx: ToolContext): void {
    const press = this.press;
    this.press = null;
    if (!press) return;
    const clampX = (x: number) => Math.min(ctx.frameWidth, Math.max(0, x));
    const clampY = (y: number) => Math.min(ctx.frameHeight, Math.max(0, y));
    if (press.dragging && press.start.button === 0) {
      const x0 = clampX(Math.min(press.start.x, p.x));
      const x1 = clampX(Math.max(press.start.x, p.x));
      const y0 = clampY(Math.min(press.start.y, p.y));
      const y1 = clampY(Math.max(press.start.y, p.y));
      if (x1 - x0 < 1 || y1 - y0 < 1) return;
      this.box = [x0, y0, x1, y1];
    } else {
      const s = press.start;
      if (s.x < 0 || s.y < 0 || s.x >= ctx.frameWidth || s.y >= ctx.frameHeight) return;
      const negative = ctx.options.samNegative || s.altKey || s.shiftKey || s.button === 2;
      this.points.push({ x: s.x, y: s.y, positive: !negative });
    }
    if (this.target === null) this.awaitingNew = true;
    ctx.samPrompt({ points: [...this.points], box: this.box ? [...this.box] : null, instanceId: this.target });
    ctx.redraw();
  }

  selectionChanged(instanceId: string | null, ctx: ToolContext): void {
    if (instanceId === this.target) return;
    if (this.target === null && this.awaitingNew && instanceId !== null) {
      this.target = instanceId;
      this.awaitingNew = false;
      return;
    }
    this.reset();
    this.target = instanceId;
    ctx.redraw();
  }

  key(e: KeyLike, ctx: ToolContext): boolean {
    if (e.key === "Escape" && (this.points.length || this.box || this.press)) {
      this.cancel(ctx);
      return true;
    }
    return false;
  }

  private reset(): void {
    this.points = [];
    this.box = null;
    this.press = null;
    this.awaitingNew = false;
  }

  cancel(ctx: ToolContext): void {
    this.reset();
    this.target = null;
    ctx.redraw();
  }

  drawOverlay(g: CanvasRenderingContext2D, ctx: ToolContext): void {
    const { view } = ctx;
    const sx = (x: number) => x * view.scale + view.offsetX;
    const sy = (y: number) => y * view.scale + view.offsetY;
    const rect = (b: readonly number[], dashed: boolean) => {
      g.setLineDash(dashed ? [6, 4] : []);
      g.lineWidth = 2;
      g.strokeStyle = "rgba(80,200,255,0.95)";
      g.strokeRect(sx(b[0]), sy(b[1]), sx(b[2]) - sx(b[0]), sy(b[3]) - sy(b[1]));
      g.setLineDash([]);
    };
    if (this.box) rect(this.box, false);
    if (this.press?.dragging) {
      const a = this.press.start;
      const b = this.press.current;
      rect([Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)], true);
    }
    for (const p of this.points) {
      g.beginPath();
      g.arc(sx(p.x), sy(p.y), 5, 0, Math.PI * 2);
      g.fillStyle = p.positive ? "#2ecc40" : "#ff4136";
      g.fill();
      g.lineWidth = 1.5;
      g.strokeStyle = "#fff";
      g.stroke();
    }
  }
}

export function createSamClickTool(): SamClickTool {
  return new SamClickTool();
}

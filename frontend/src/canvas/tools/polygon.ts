/**
 * `polygon`: click vertices; Enter, a double-click or a click on the first vertex closes the
 * polygon, which is filled into the selected instance (a new instance when none is selected).
 * Escape cancels, Backspace removes the last vertex.
 */
import { cloneMask, createMask, fillPolygon, type Point } from "../../model/mask";
import type { KeyLike } from "../../model/keymap";
import type { ToolContext, ToolHandler, ToolPointer } from "./types";

/** Screen pixels within which a click on the first vertex closes the polygon. */
const CLOSE_TOLERANCE = 8;
/** Screen pixels within which a click repeats the last vertex (the clicks of a double-click). */
const REPEAT_TOLERANCE = 3;

export class PolygonTool implements ToolHandler {
  readonly name = "polygon" as const;
  readonly cursor = "crosshair";
  private points: Point[] = [];

  get vertices(): readonly Point[] {
    return this.points;
  }

  pointerDown(p: ToolPointer, ctx: ToolContext): void {
    if (p.button !== 0) return;
    const s = ctx.view.scale;
    const first = this.points[0];
    if (this.points.length >= 3 && Math.hypot((p.x - first.x) * s, (p.y - first.y) * s) <= CLOSE_TOLERANCE) {
      this.close(ctx);
      return;
    }
    const last = this.points[this.points.length - 1];
    if (last && Math.hypot((p.x - last.x) * s, (p.y - last.y) * s) <= REPEAT_TOLERANCE) return;
    this.points.push({ x: p.x, y: p.y });
    ctx.redraw();
  }

  pointerMove(_p: ToolPointer, ctx: ToolContext): void {
    ctx.redraw();
  }

  pointerUp(_p: ToolPointer, _ctx: ToolContext): void {}

  doubleClick(_p: ToolPointer, ctx: ToolContext): void {
    this.close(ctx);
  }

  key(e: KeyLike, ctx: ToolContext): boolean {
    if (!this.points.length) return false;
    if (e.key === "Enter") {
      this.close(ctx);
      return true;
    }
    if (e.key === "Escape") {
      this.cancel(ctx);
      return true;
    }
    if (e.key === "Backspace") {
      this.points.pop();
      ctx.redraw();
      return true;
    }
    return false;
  }

  /** Fill the polygon into the target mask and commit; fewer than 3 vertices just cancel. */
  close(ctx: ToolContext): void {
    const points = this.points;
    this.points = [];
    if (points.length >= 3) {
      const selected = ctx.selected();
      const mask = selected ? cloneMask(selected.mask) : createMask(ctx.frameWidth, ctx.frameHeight);
      fillPolygon(mask, points, 1);
      ctx.commit([{ instanceId: selected?.id ?? null, mask }]);
    }
    ctx.redraw();
  }

  cancel(ctx: ToolContext): void {
    if (this.points.length) {
      this.points = [];
      ctx.redraw();
    }
  }

  drawOverlay(g: CanvasRenderingContext2D, ctx: ToolContext, hover: Point | null): void {
    const { view } = ctx;
    const sx = (p: Point) => p.x * view.scale + view.offsetX;
    const sy = (p: Point) => p.y * view.scale + view.offsetY;
    if (this.points.length) {
      g.beginPath();
      g.moveTo(sx(this.points[0]), sy(this.points[0]));
      for (const p of this.points.slice(1)) g.lineTo(sx(p), sy(p));
      if (hover) g.lineTo(sx(hover), sy(hover));
      g.lineWidth = 2;
      g.strokeStyle = "rgba(255,255,0,0.95)";
      g.stroke();
      for (const [i, p] of this.points.entries()) {
        g.beginPath();
        g.arc(sx(p), sy(p), i === 0 ? 5 : 3, 0, Math.PI * 2);
        g.fillStyle = i === 0 ? "#ff0" : "#fff";
        g.fill();
      }
    }
  }
}

export function createPolygonTool(): PolygonTool {
  return new PolygonTool();
}

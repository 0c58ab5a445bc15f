/**
 * `brush` and `eraser`: round strokes of `brushSize` frame pixels. The brush paints into the
 * selected instance (a new instance when none is selected); the eraser clears the selected instance,
 * or every visible instance when none is selected. The stroke is previewed live and committed on
 * pointer up as one edit (one undo step).
 */
import type { MaskChange } from "../../model/frameDoc";
import { cloneMask, createMask, masksEqual, paintSegment, rectUnion, type Mask, type Point, type Rect } from "../../model/mask";
import type { ToolContext, ToolHandler, ToolName, ToolPointer } from "./types";

interface Stroke {
  targets: { instanceId: string | null; original: Mask | null; mask: Mask }[];
  last: Point;
}

class PainterTool implements ToolHandler {
  readonly cursor = "none";
  private stroke: Stroke | null = null;

  constructor(
    readonly name: ToolName,
    private readonly value: 0 | 1,
  ) {}

  private radius(ctx: ToolContext): number {
    return Math.max(0.5, ctx.options.brushSize / 2);
  }

  pointerDown(p: ToolPointer, ctx: ToolContext): void {
    if (p.button !== 0) return;
    const selected = ctx.selected();
    let targets: Stroke["targets"];
    if (this.value === 1) {
      targets = [
        selected
          ? { instanceId: selected.id, original: selected.mask, mask: cloneMask(selected.mask) }
          : { instanceId: null, original: null, mask: createMask(ctx.frameWidth, ctx.frameHeight) },
      ];
    } else {
      const pool = selected ? [selected] : ctx.instances();
      targets = pool.map((i) => ({ instanceId: i.id, original: i.mask, mask: cloneMask(i.mask) }));
    }
    this.stroke = { targets, last: { x: p.x, y: p.y } };
    this.paint(p, ctx);
  }

  pointerMove(p: ToolPointer, ctx: ToolContext): void {
    if (this.stroke) this.paint(p, ctx);
    ctx.redraw();
  }

  pointerUp(p: ToolPointer, ctx: ToolContext): void {
    const stroke = this.stroke;
    if (!stroke) return;
    this.paint(p, ctx);
    this.stroke = null;
    const changes: MaskChange[] = stroke.targets
      .filter((t) => (t.original ? !masksEqual(t.original, t.mask) : true))
      .map((t) => ({ instanceId: t.instanceId, mask: t.mask }));
    if (changes.length) ctx.commit(changes);
    else ctx.preview(null, null);
  }

  private paint(p: ToolPointer, ctx: ToolContext): void {
    const stroke = this.stroke!;
    let dirty: Rect | null = null;
    for (const t of stroke.targets) {
      dirty = rectUnion(dirty, paintSegment(t.mask, stroke.last, p, this.radius(ctx), this.value));
    }
    stroke.last = { x: p.x, y: p.y };
    ctx.preview(
      stroke.targets.map((t) => ({ instanceId: t.instanceId, mask: t.mask })),
      dirty,
    );
  }

  cancel(ctx: ToolContext): void {
    if (this.stroke) {
      this.stroke = null;
      ctx.preview(null, null);
    }
  }

  drawOverlay(g: CanvasRenderingContext2D, ctx: ToolContext, hover: Point | null): void {
    if (!hover) return;
    const { view } = ctx;
    const r = this.radius(ctx) * view.scale;
    g.beginPath();
    g.arc(hover.x * view.scale + view.offsetX, hover.y * view.scale + view.offsetY, Math.max(r, 2), 0, Math.PI * 2);
    g.lineWidth = 1.5;
    g.strokeStyle = this.value ? "rgba(255,255,255,0.95)" : "rgba(255,90,90,0.95)";
    g.stroke();
    g.setLineDash([3, 3]);
    g.strokeStyle = "rgba(0,0,0,0.8)";
    g.stroke();
    g.setLineDash([]);
  }
}

export function createBrushTool(): ToolHandler {
  return new PainterTool("brush", 1);
}

export function createEraserTool(): ToolHandler {
  return new PainterTool("eraser", 0);
}

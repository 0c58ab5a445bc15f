/**
 * The contract between the canvas facade and its tools. A tool is a handler: it receives pointer
 * and key input in FRAME coordinates, computes masks at the frame's resolution with the pure ops of
 * `model/mask.ts`, shows uncommitted work through `preview` / its overlay, and reports finished work
 * through `commit` (mask edits) or `samPrompt` (a request the page answers). Tools never touch the
 * document or the API.
 */
import type { MaskChange } from "../../model/frameDoc";
import type { Mask, Point, Rect } from "../../model/mask";
import type { KeyLike } from "../../model/keymap";
import type { View } from "../viewport";

export type ToolName = "brush" | "eraser" | "polygon" | "samClick" | "select";

export interface ToolOptions {
  /** Brush/eraser diameter in frame pixels. */
  brushSize: number;
  /** SAM: clicks add negative points. */
  samNegative: boolean;
}

export interface ToolPointer extends Point {
  /** Screen (CSS px, canvas-relative) position. */
  sx: number;
  sy: number;
  button: number;
  shiftKey: boolean;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}

export interface ToolInstance {
  id: string;
  mask: Mask;
}

/** Frame-pixel prompt for the SAM endpoint. */
export interface SamPoint {
  x: number;
  y: number;
  positive: boolean;
}

export interface SamPrompt {
  points: SamPoint[];
  /** [x0, y0, x1, y1] in frame pixels, x0 < x1, y0 < y1. */
  box: [number, number, number, number] | null;
  /** The instance the result should replace; null: a new instance. */
  instanceId: string | null;
}

export interface ToolContext {
  readonly frameWidth: number;
  readonly frameHeight: number;
  readonly options: Readonly<ToolOptions>;
  /** The current view (for screen-space tolerances). */
  readonly view: View;
  /** The selected instance, if visible. */
  selected(): ToolInstance | null;
  /** Visible instances, bottom to top. */
  instances(): readonly ToolInstance[];
  /** Show uncommitted masks (null: stop showing them). `dirty` bounds what changed since the last call. */
  preview(changes: MaskChange[] | null, dirty: Rect | null): void;
  /** Finished mask edits (emitted as the canvas `edit` event). */
  commit(changes: MaskChange[]): void;
  samPrompt(prompt: SamPrompt): void;
  select(instanceId: string | null): void;
  /** Redraw the tool overlay (cursor, polygon, points). */
  redraw(): void;
}

export interface ToolHandler {
  readonly name: ToolName;
  readonly cursor: string;
  pointerDown(p: ToolPointer, ctx: ToolContext): void;
  pointerMove(p: ToolPointer, ctx: ToolContext): void;
  pointerUp(p: ToolPointer, ctx: ToolContext): void;
  doubleClick?(p: ToolPointer, ctx: ToolContext): void;
  /** Keys for the tool (Enter, Escape, Backspace…); true when consumed. */
  key?(e: KeyLike, ctx: ToolContext): boolean;
  /** The selection changed (by the user or the page). */
  selectionChanged?(instanceId: string | null, ctx: ToolContext): void;
  /** Abandon whatever is in progress (tool switch, frame change). */
  cancel(ctx: ToolContext): void;
  /** Draw the overlay in screen space (CSS px); `hover` is the pointer in frame coordinates. */
  drawOverlay(g: CanvasRenderingContext2D, ctx: ToolContext, hover: Point | null): void;
}

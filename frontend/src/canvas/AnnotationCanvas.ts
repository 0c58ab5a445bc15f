/**
 * AnnotationCanvas: the ONE facade over the interactive <canvas> of the annotator (the habit of
 * CVAT's cvat-canvas and Annotorious). Views talk to it only through the methods below and listen to
 * its events; it owns drawing, zoom/pan and pointer input, and delegates editing to tool handlers
 * (`canvas/tools`: `brush`, `eraser`, `polygon`, `samClick`, `select`). It never changes the document
 * itself: tools report edits as events, the page applies them (with undo and saving) and pushes the
 * new instances back with `setInstances`.
 *
 * Coordinates: masks, edits and prompts are in FRAME pixels (the frame image's own resolution);
 * `View` maps them to CSS pixels of the canvas; the device pixel ratio only affects the backing store.
 *
 * Methods
 *   setFrame({key, width, height, image})  show a frame (image may arrive later with the same key)
 *   setInstances(instances, selectedId)     the masks to draw ({id, mask, color, visible}), bottom to top
 *   setProposals(proposals) / setOverlay({visible, opacity})   the proposal overlay
 *   setTool(name | null)                    the active tool (null: view only; left-drag pans)
 *   setOptions({brushSize, samNegative})    tool options
 *   handleKey(event) → boolean              give the active tool a key (Enter, Escape, Backspace)
 *   cancel()                                abandon the tool's work in progress
 *   fit() / zoomBy(factor) / getView()      view control
 *   on(event, listener) → unsubscribe       events, below
 *   destroy()
 *
 * Events
 *   ready      {frameKey, width, height}    the frame's image has been drawn (once per frame key)
 *   edit       {tool, changes: [{instanceId | null, mask}]}   a finished stroke/polygon (one undo step);
 *                                           instanceId null means "a new instance with this mask"
 *   samprompt  {points: [{x, y, positive}], box, instanceId}  the SAM tool's prompt changed
 *   select     {instanceId | null}          the select tool picked an instance
 *   hover      {x, y, proposalIndex, instanceId} | null       what is under the pointer (changes only)
 *   viewchange {scale, offsetX, offsetY}    zoom or pan changed
 *
 * Input: wheel zooms at the pointer; Space+drag or the middle button pans; everything else goes
 * to the active tool.
 */
import type { MaskChange } from "../model/frameDoc";
import { hexToRgb } from "../model/colors";
import type { KeyLike } from "../model/keymap";
import { maskAt, rectUnion, type Mask, type Point, type Rect } from "../model/mask";
import { composeLayers, growRect, type ColourLayer } from "./compose";
import { Emitter } from "./events";
import { toolRegistry } from "./tools";
import type { SamPrompt, ToolContext, ToolHandler, ToolInstance, ToolName, ToolOptions, ToolPointer } from "./tools/types";
import { fitView, panBy, toFrame, zoomAt, type View } from "./viewport";

export interface CanvasFrame {
  /** Identifies the frame (e.g. its id); a new key resets tool state and emits `ready` again. */
  key: string;
  width: number;
  height: number;
  /** Null while loading. */
  image: CanvasImageSource | null;
}

export interface CanvasInstance {
  id: string;
  mask: Mask;
  /** #rrggbb */
  color: string;
  visible: boolean;
}

export interface CanvasProposal {
  mask: Mask;
  color: string;
}

export interface HoverInfo {
  x: number;
  y: number;
  /** Index into the proposals given to `setProposals`, when the overlay is visible. */
  proposalIndex: number | null;
  instanceId: string | null;
}

export interface AnnotationCanvasEvents {
  ready: { frameKey: string; width: number; height: number };
  edit: { tool: ToolName; changes: MaskChange[] };
  samprompt: SamPrompt;
  select: { instanceId: string | null };
  hover: HoverInfo | null;
  viewchange: View;
}

export interface AnnotationCanvasDeps {
  requestFrame?: (callback: () => void) => void;
  devicePixelRatio?: () => number;
  /** Where Space (hold to pan) is listened for; null: nowhere. */
  keyTarget?: Pick<Window, "addEventListener" | "removeEventListener"> | null;
}

interface Layer {
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D;
  image: ImageData;
}

const NEW_INSTANCE_COLOUR = "#ffffff";

function isTextInput(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

export class AnnotationCanvas {
  private readonly events = new Emitter<AnnotationCanvasEvents>();
  private readonly ctx: CanvasRenderingContext2D | null;
  private readonly requestFrame: (callback: () => void) => void;
  private readonly dpr: () => number;
  private readonly keyTarget: AnnotationCanvasDeps["keyTarget"];

  private frame: CanvasFrame | null = null;
  private readyKey: string | null = null;
  private instances: CanvasInstance[] = [];
  private selectedId: string | null = null;
  private proposals: CanvasProposal[] = [];
  private overlay = { visible: true, opacity: 0.5 };
  private options: ToolOptions = { brushSize: 20, samNegative: false };
  private tool: ToolHandler | null = null;
  private readonly tools = new Map<ToolName, ToolHandler>();

  private view: View = { scale: 1, offsetX: 0, offsetY: 0 };
  private autoFit = true;
  private cssWidth = 0;
  private cssHeight = 0;

  private maskLayer: Layer | null = null;
  private proposalLayer: Layer | null = null;
  private livePreview: MaskChange[] | null = null;
  private committedPreview: MaskChange[] | null = null;
  private masksDirty: Rect | "all" | null = "all";
  private proposalsDirty = true;
  private scheduled = false;

  private hover: Point | null = null;
  private lastHover: HoverInfo | null = null;
  private spaceHeld = false;
  private pan: { pointerId: number; x: number; y: number } | null = null;
  private toolPointer: number | null = null;
  private readonly cleanups: (() => void)[] = [];
  private readonly resizeObserver: ResizeObserver | null = null;
  private destroyed = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    deps: AnnotationCanvasDeps = {},
  ) {
    this.ctx = canvas.getContext("2d");
    this.requestFrame =
      deps.requestFrame ??
      ((cb) => (typeof requestAnimationFrame === "function" ? requestAnimationFrame(() => cb()) : setTimeout(cb, 16)));
    this.dpr = deps.devicePixelRatio ?? (() => (typeof window !== "undefined" ? window.devicePixelRatio || 1 : 1));
    this.keyTarget = deps.keyTarget === undefined ? (typeof window !== "undefined" ? window : null) : deps.keyTarget;

    const listen = <K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void, opts?: AddEventListenerOptions) => {
      canvas.addEventListener(type, fn as EventListener, opts);
      this.cleanups.push(() => canvas.removeEventListener(type, fn as EventListener, opts));
    };
    listen("pointerdown", (e) => this.onPointerDown(e));
    listen("pointermove", (e) => this.onPointerMove(e));
    listen("pointerup", (e) => this.onPointerUp(e));
    listen("pointercancel", (e) => this.onPointerUp(e));
    listen("pointerleave", () => this.onPointerLeave());
    listen("dblclick", (e) => this.onDoubleClick(e));
    listen("wheel", (e) => this.onWheel(e), { passive: false });
    listen("contextmenu", (e) => e.preventDefault());

    if (this.keyTarget) {
      const down = (e: Event) => this.onSpace(e as KeyboardEvent, true);
      const up = (e: Event) => this.onSpace(e as KeyboardEvent, false);
      const blur = () => {
        this.spaceHeld = false;
        this.updateCursor();
      };
      this.keyTarget.addEventListener("keydown", down);
      this.keyTarget.addEventListener("keyup", up);
      this.keyTarget.addEventListener("blur", blur);
      this.cleanups.push(() => {
        this.keyTarget?.removeEventListener("keydown", down);
        this.keyTarget?.removeEventListener("keyup", up);
        this.keyTarget?.removeEventListener("blur", blur);
      });
    }
    if (typeof ResizeObserver !== "undefined") {
      this.resizeObserver = new ResizeObserver(() => this.resize());
      this.resizeObserver.observe(canvas);
    }
    this.resize();
    this.updateCursor();
  }

  // --- public API -------------------------------------------------------------------------------

  on<K extends keyof AnnotationCanvasEvents>(type: K, listener: (payload: AnnotationCanvasEvents[K]) => void): () => void {
    return this.events.on(type, listener);
  }

  setFrame(frame: CanvasFrame): void {
    const previous = this.frame;
    const newKey = previous?.key !== frame.key;
    const newSize = previous?.width !== frame.width || previous?.height !== frame.height;
    this.frame = frame;
    if (newKey) {
      this.tool?.cancel(this.toolContext());
      this.livePreview = null;
      this.committedPreview = null;
      this.readyKey = null;
    }
    if (newSize) {
      this.maskLayer = this.createLayer(frame.width, frame.height);
      this.proposalLayer = this.createLayer(frame.width, frame.height);
      this.autoFit = true;
      this.fitInternal();
    }
    this.masksDirty = "all";
    this.proposalsDirty = true;
    this.schedule();
  }

  setInstances(instances: readonly CanvasInstance[], selectedId: string | null): void {
    const changed =
      instances.length !== this.instances.length ||
      instances.some((i, k) => {
        const p = this.instances[k];
        return p.id !== i.id || p.mask !== i.mask || p.color !== i.color || p.visible !== i.visible;
      });
    const selectionChanged = selectedId !== this.selectedId;
    this.instances = instances.map((i) => ({ ...i }));
    this.selectedId = selectedId;
    if (changed) this.committedPreview = null;
    if (changed || selectionChanged) {
      this.masksDirty = "all";
      this.schedule();
    }
    if (selectionChanged) this.tool?.selectionChanged?.(selectedId, this.toolContext());
  }

  setProposals(proposals: readonly CanvasProposal[]): void {
    const same =
      proposals.length === this.proposals.length &&
      proposals.every((p, k) => p.mask === this.proposals[k].mask && p.color === this.proposals[k].color);
    if (same) return;
    this.proposals = [...proposals];
    this.proposalsDirty = true;
    this.schedule();
  }

  setOverlay(overlay: { visible?: boolean; opacity?: number }): void {
    this.overlay = {
      visible: overlay.visible ?? this.overlay.visible,
      opacity: Math.min(1, Math.max(0, overlay.opacity ?? this.overlay.opacity)),
    };
    this.schedule();
  }

  setTool(name: ToolName | null): void {
    if ((this.tool?.name ?? null) === name) return;
    this.tool?.cancel(this.toolContext());
    this.livePreview = null;
    if (name === null) {
      this.tool = null;
    } else {
      let handler = this.tools.get(name);
      if (!handler) {
        handler = toolRegistry[name]();
        this.tools.set(name, handler);
      }
      this.tool = handler;
      handler.selectionChanged?.(this.selectedId, this.toolContext());
    }
    this.updateCursor();
    this.masksDirty = "all";
    this.schedule();
  }

  getTool(): ToolName | null {
    return this.tool?.name ?? null;
  }

  /** The active tool's handler (tests, debugging). */
  getToolHandler(): ToolHandler | null {
    return this.tool;
  }

  setOptions(options: Partial<ToolOptions>): void {
    this.options = { ...this.options, ...options };
    this.schedule();
  }

  getOptions(): Readonly<ToolOptions> {
    return this.options;
  }

  handleKey(e: KeyLike): boolean {
    return this.tool?.key?.(e, this.toolContext()) ?? false;
  }

  cancel(): void {
    this.tool?.cancel(this.toolContext());
    this.livePreview = null;
    this.masksDirty = "all";
    this.schedule();
  }

  fit(): void {
    this.autoFit = true;
    this.fitInternal();
    this.schedule();
  }

  zoomBy(factor: number): void {
    this.setView(zoomAt(this.view, factor, this.cssWidth / 2, this.cssHeight / 2, this.minScale()));
  }

  getView(): View {
    return this.view;
  }

  /** Re-measure the element (called by a ResizeObserver when available). */
  resize(): void {
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const dpr = this.dpr();
    if (w === this.cssWidth && h === this.cssHeight && this.canvas.width === Math.round(w * dpr)) return;
    this.cssWidth = w;
    this.cssHeight = h;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    if (this.autoFit) this.fitInternal();
    this.schedule();
  }

  destroy(): void {
    this.destroyed = true;
    for (const cleanup of this.cleanups) cleanup();
    this.resizeObserver?.disconnect();
    this.events.clear();
  }

  // --- tool context -------------------------------------------------------------------------------

  private toolContext(): ToolContext {
    const self = this;
    return {
      get frameWidth() {
        return self.frame?.width ?? 0;
      },
      get frameHeight() {
        return self.frame?.height ?? 0;
      },
      get options() {
        return self.options;
      },
      get view() {
        return self.view;
      },
      selected: () => {
        const i = this.instances.find((x) => x.id === this.selectedId && x.visible);
        return i ? { id: i.id, mask: this.effectiveMask(i) } : null;
      },
      instances: () =>
        this.instances.filter((i) => i.visible).map((i): ToolInstance => ({ id: i.id, mask: this.effectiveMask(i) })),
      preview: (changes, dirty) => {
        this.livePreview = changes;
        this.masksDirty = this.masksDirty === "all" || dirty === null ? "all" : rectUnion(this.masksDirty, growRect(dirty, 1));
        this.schedule();
      },
      commit: (changes) => {
        this.livePreview = null;
        this.committedPreview = changes;
        this.masksDirty = "all";
        this.schedule();
        this.events.emit("edit", { tool: this.tool!.name, changes });
      },
      samPrompt: (prompt) => this.events.emit("samprompt", prompt),
      select: (instanceId) => this.events.emit("select", { instanceId }),
      redraw: () => this.schedule(),
    };
  }

  /** An instance's mask as shown: a committed edit not yet echoed back by `setInstances` wins. */
  private effectiveMask(instance: CanvasInstance): Mask {
    return this.committedPreview?.find((c) => c.instanceId === instance.id)?.mask ?? instance.mask;
  }

  // --- input ----------------------------------------------------------------------------------------

  private local(e: MouseEvent): { sx: number; sy: number } {
    const r = this.canvas.getBoundingClientRect();
    return { sx: e.clientX - r.left, sy: e.clientY - r.top };
  }

  private toolPointerOf(e: PointerEvent | MouseEvent): ToolPointer {
    const { sx, sy } = this.local(e);
    const p = toFrame(this.view, sx, sy);
    return { x: p.x, y: p.y, sx, sy, button: e.button, shiftKey: e.shiftKey, altKey: e.altKey, ctrlKey: e.ctrlKey, metaKey: e.metaKey };
  }

  private capture(pointerId: number): void {
    try {
      this.canvas.setPointerCapture?.(pointerId);
    } catch {
      /* not supported (tests) */
    }
  }

  private onPointerDown(e: PointerEvent): void {
    if (!this.frame) return;
    const { sx, sy } = this.local(e);
    if (e.button === 1 || (e.button === 0 && (this.spaceHeld || this.tool === null))) {
      e.preventDefault();
      this.pan = { pointerId: e.pointerId, x: sx, y: sy };
      this.capture(e.pointerId);
      this.updateCursor();
      return;
    }
    if (!this.tool) return;
    e.preventDefault();
    this.toolPointer = e.pointerId;
    this.capture(e.pointerId);
    this.tool.pointerDown(this.toolPointerOf(e), this.toolContext());
  }

  private onPointerMove(e: PointerEvent): void {
    const { sx, sy } = this.local(e);
    if (this.pan && this.pan.pointerId === e.pointerId) {
      const dx = sx - this.pan.x;
      const dy = sy - this.pan.y;
      this.pan.x = sx;
      this.pan.y = sy;
      this.setView(panBy(this.view, dx, dy));
      return;
    }
    const p = this.toolPointerOf(e);
    this.hover = { x: p.x, y: p.y };
    if (this.tool && this.frame) this.tool.pointerMove(p, this.toolContext());
    this.updateHover(p);
  }

  private onPointerUp(e: PointerEvent): void {
    if (this.pan && this.pan.pointerId === e.pointerId) {
      this.pan = null;
      this.updateCursor();
      return;
    }
    if (this.toolPointer !== e.pointerId) return;
    this.toolPointer = null;
    if (this.tool && this.frame) this.tool.pointerUp(this.toolPointerOf(e), this.toolContext());
  }

  private onPointerLeave(): void {
    this.hover = null;
    if (this.lastHover !== null) {
      this.lastHover = null;
      this.events.emit("hover", null);
    }
    this.schedule();
  }

  private onDoubleClick(e: MouseEvent): void {
    if (this.tool?.doubleClick && this.frame) this.tool.doubleClick(this.toolPointerOf(e), this.toolContext());
  }

  private onWheel(e: WheelEvent): void {
    if (!this.frame) return;
    e.preventDefault();
    const { sx, sy } = this.local(e);
    const delta = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1);
    this.setView(zoomAt(this.view, Math.exp(-delta * 0.0015), sx, sy, this.minScale()));
  }

  private onSpace(e: KeyboardEvent, down: boolean): void {
    if (e.code !== "Space" && e.key !== " ") return;
    if (isTextInput(e.target)) return;
    if (down) e.preventDefault(); // no page scroll, no button activation
    if (this.spaceHeld !== down) {
      this.spaceHeld = down;
      this.updateCursor();
    }
  }

  private updateHover(p: Point): void {
    if (!this.frame) return;
    let proposalIndex: number | null = null;
    if (this.overlay.visible) {
      for (let k = this.proposals.length - 1; k >= 0; k--) {
        if (maskAt(this.proposals[k].mask, p.x, p.y)) {
          proposalIndex = k;
          break;
        }
      }
    }
    let instanceId: string | null = null;
    for (let k = this.instances.length - 1; k >= 0; k--) {
      const i = this.instances[k];
      if (i.visible && maskAt(this.effectiveMask(i), p.x, p.y)) {
        instanceId = i.id;
        break;
      }
    }
    const last = this.lastHover;
    if (last && last.proposalIndex === proposalIndex && last.instanceId === instanceId) return;
    this.lastHover = { x: p.x, y: p.y, proposalIndex, instanceId };
    this.events.emit("hover", this.lastHover);
  }

  private updateCursor(): void {
    const style = this.canvas.style;
    if (this.pan) style.cursor = "grabbing";
    else if (this.spaceHeld || !this.tool) style.cursor = "grab";
    else style.cursor = this.tool.cursor;
  }

  // --- view ---------------------------------------------------------------------------------------

  private minScale(): number {
    if (!this.frame) return 0.01;
    return fitView(this.cssWidth, this.cssHeight, this.frame.width, this.frame.height).scale / 4;
  }

  private fitInternal(): void {
    if (!this.frame) return;
    this.view = fitView(this.cssWidth, this.cssHeight, this.frame.width, this.frame.height);
    this.events.emit("viewchange", this.view);
  }

  private setView(view: View): void {
    this.view = view;
    this.autoFit = false;
    this.events.emit("viewchange", view);
    this.schedule();
  }

  // --- drawing --------------------------------------------------------------------------------------

  private createLayer(width: number, height: number): Layer | null {
    if (!this.ctx || typeof document === "undefined" || width <= 0 || height <= 0) return null;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    if (!ctx) return null;
    return { canvas, ctx, image: ctx.createImageData(width, height) };
  }

  private schedule(): void {
    if (this.scheduled || this.destroyed) return;
    this.scheduled = true;
    this.requestFrame(() => this.render());
  }

  private instanceLayers(): ColourLayer[] {
    const overrides = new Map<string | null, Mask>();
    for (const c of this.committedPreview ?? []) overrides.set(c.instanceId, c.mask);
    for (const c of this.livePreview ?? []) overrides.set(c.instanceId, c.mask);
    const layers: ColourLayer[] = [];
    for (const i of this.instances) {
      if (!i.visible) continue;
      const selected = i.id === this.selectedId;
      layers.push({
        mask: overrides.get(i.id) ?? i.mask,
        rgb: hexToRgb(i.color),
        fillAlpha: selected ? 150 : 100,
        edgeAlpha: selected ? 255 : 210,
      });
    }
    const fresh = overrides.get(null);
    if (fresh) layers.push({ mask: fresh, rgb: hexToRgb(NEW_INSTANCE_COLOUR), fillAlpha: 140, edgeAlpha: 255 });
    return layers;
  }

  private render(): void {
    this.scheduled = false;
    if (this.destroyed) return;
    const frame = this.frame;
    if (frame && this.maskLayer && this.masksDirty) {
      const rect = this.masksDirty === "all" ? { x0: 0, y0: 0, x1: frame.width, y1: frame.height } : this.masksDirty;
      composeLayers(this.maskLayer.image.data, frame.width, frame.height, this.instanceLayers(), rect);
      const x0 = Math.max(0, rect.x0);
      const y0 = Math.max(0, rect.y0);
      this.maskLayer.ctx.putImageData(this.maskLayer.image, 0, 0, x0, y0, Math.min(frame.width, rect.x1) - x0, Math.min(frame.height, rect.y1) - y0);
    }
    this.masksDirty = null;
    if (frame && this.proposalLayer && this.proposalsDirty) {
      const layers = this.proposals.map((p) => ({ mask: p.mask, rgb: hexToRgb(p.color), fillAlpha: 170, edgeAlpha: 255 }));
      composeLayers(this.proposalLayer.image.data, frame.width, frame.height, layers);
      this.proposalLayer.ctx.putImageData(this.proposalLayer.image, 0, 0);
    }
    this.proposalsDirty = false;

    const g = this.ctx;
    if (g) {
      const dpr = this.dpr();
      g.setTransform(1, 0, 0, 1, 0, 0);
      g.fillStyle = "#1e1e1e";
      g.fillRect(0, 0, this.canvas.width, this.canvas.height);
      if (frame) {
        const { scale, offsetX, offsetY } = this.view;
        g.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * offsetX, dpr * offsetY);
        g.imageSmoothingEnabled = scale < 1;
        if (frame.image) g.drawImage(frame.image, 0, 0, frame.width, frame.height);
        g.imageSmoothingEnabled = false;
        if (this.overlay.visible && this.proposals.length && this.proposalLayer) {
          g.globalAlpha = this.overlay.opacity;
          g.drawImage(this.proposalLayer.canvas, 0, 0);
          g.globalAlpha = 1;
        }
        if (this.maskLayer) g.drawImage(this.maskLayer.canvas, 0, 0);
        g.setTransform(dpr, 0, 0, dpr, 0, 0);
        this.tool?.drawOverlay(g, this.toolContext(), this.hover);
      }
    }
    if (frame && frame.image && this.readyKey !== frame.key) {
      this.readyKey = frame.key;
      this.events.emit("ready", { frameKey: frame.key, width: frame.width, height: frame.height });
    }
  }
}
